//go:build !linux

package proxy

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf is nil off Linux: every write to a miner goes through a flusher goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// rawWriter is never used off Linux (rawConnOf is nil).
type rawWriter struct{ bufs [][]byte }

func getRawWriter() *rawWriter { return &rawWriter{} }
func putRawWriter(*rawWriter)  {}

func (w *rawWriter) write(syscall.RawConn) ([][]byte, error) {
	return nil, errors.New("proxy: direct writes need Linux")
}
