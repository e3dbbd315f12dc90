package proxy

import (
	"syscall"
	"unsafe"
)

// awaitReadable parks an SV2 reader on the poller until its miner's socket has bytes, before
// it enters the Noise reader. Parked there, an idle miner's reader uses about 700 bytes of
// stack instead of the 1.4 KiB that the read through noise.Conn, net.Conn and poll.FD takes:
// the garbage collector shrinks a stack only when its goroutine uses under a quarter of it
// (less 800 bytes kept for nosplit functions), so this is what lets an idle reader's stack go
// from 8 KiB to 4 KiB. Errors are left to the read that follows, which meets them too.
func (s *v2Conn) awaitReadable() {
	if s.raw == nil || s.nc.Buffered() > 0 {
		return
	}
	s.raw.Read(peekReadable)
}

// peekReadable is the syscall.RawConn.Read callback: false (wait for the poller) while the
// socket has nothing; true once a byte, end of stream or an error is there. It peeks, so the
// bytes stay for the Noise reader.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			return true
		}
	}
}
