package proxy

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// read is the syscall.RawConn.Read callback: one read into a buffer borrowed for it. false
// (wait for the poller) while the socket has nothing (nothingToRead), unless noWait: then
// true with empty set, so the reader can park; true once bytes, end of stream (n == 0) or an
// error came.
func (r *rawReader) read(fd uintptr) bool {
	if r.buf == nil {
		r.buf = lineBufs.Get().(*[lineBufSize]byte)
	}
	for {
		n, _, e := syscall.Syscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), lineBufSize)
		switch e {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			r.nothingToRead()
			if r.noWait {
				r.empty = true
				return true
			}
			return false
		default:
			r.err = os.NewSyscallError("read", e)
			return true
		}
	}
}

// readNow is one read into b that never waits; ok false: the socket has nothing now.
func (s *v1Conn) readNow(b []byte) (n int, ok bool, err error) {
	if len(b) == 0 {
		return 0, true, nil
	}
	var errno syscall.Errno
	rerr := s.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.Syscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case rerr != nil:
		return 0, true, rerr
	case errno == syscall.EAGAIN:
		return 0, false, nil
	case errno != 0:
		return 0, true, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, true, io.EOF
	}
	return n, true, nil
}
