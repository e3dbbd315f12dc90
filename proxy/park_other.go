//go:build !linux

package proxy

// parker is Linux only: elsewhere an idle miner's reader waits in the Go poller.
type parker struct{}

func (*parker) park(*v1Conn) bool { return false }
func (*parker) take(*v1Conn) bool { return false }
func (*parker) count() int        { return 0 }
