//go:build !linux

package proxy

// awaitReadable does nothing off Linux (rawConnOf is nil there): the reader parks in its read.
func (s *v2Conn) awaitReadable() {}
