package proxy

import (
	"syscall"
	"unsafe"
)

// waitReadable is a syscall.RawConn.Read callback that reads nothing: false (wait for the
// poller) while the socket has no byte to read, true once it has one, or end of stream, or an
// error the read that follows reports.
func waitReadable(fd uintptr) bool {
	var b byte
	_, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b)), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return e != syscall.EAGAIN
}
