//go:build !linux

package proxy

import "errors"

// read is never called off Linux: rawConnOf is nil there, and a miner's line reader keeps
// its buffer.
func (r *rawReader) read(uintptr) bool {
	r.err = errors.New("proxy: direct reads need Linux")
	return true
}
