//go:build !linux

package proxy

import "errors"

// read is never called off Linux: rawConnOf is nil there, and a miner's line reader keeps
// its buffer.
func (r *rawReader) read(uintptr) bool {
	r.err = errors.New("proxy: direct reads need Linux")
	return true
}

// readNow is never called off Linux: no miner is parked there, so none runs on a burst
// worker.
func (s *v1Conn) readNow([]byte) (int, bool, error) { return 0, false, nil }
