package proxy

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// rawConnOf is the socket under a plain TCP miner connection, for writes that never wait;
// nil for TLS (a record must be written whole) and for anything that is not TCP.
func rawConnOf(nc net.Conn) syscall.RawConn {
	if _, isTLS := nc.(*tls.Conn); isTLS {
		return nil
	}
	tc := tcpConn(nc)
	if tc == nil {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// maxIOV is the most buffers one writev takes (IOV_MAX); the rest stays queued.
const maxIOV = 1024

// rawWriter is one non-blocking writev, pooled: the buffers, their iovecs and the callback
// syscall.RawConn.Write runs are reused, so a direct write allocates nothing.
type rawWriter struct {
	bufs  [][]byte
	iov   []syscall.Iovec
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

var rawWriters = sync.Pool{New: func() any {
	w := &rawWriter{}
	w.fn = w.writev
	return w
}}

func getRawWriter() *rawWriter { return rawWriters.Get().(*rawWriter) }

func putRawWriter(w *rawWriter) {
	if cap(w.bufs) > maxIOV {
		return // a burst's slices are not worth keeping
	}
	clear(w.bufs)
	clear(w.iov)
	w.bufs, w.iov = w.bufs[:0], w.iov[:0]
	rawWriters.Put(w)
}

// write writes w.bufs with one writev that does not wait for the socket and returns what it
// did not take (a suffix of w.bufs, the first one possibly cut).
func (w *rawWriter) write(rc syscall.RawConn) ([][]byte, error) {
	w.iov = w.iov[:0]
	for _, b := range w.bufs {
		if len(b) == 0 {
			continue
		}
		if len(w.iov) == maxIOV {
			break
		}
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		w.iov = append(w.iov, v)
	}
	if err := rc.Write(w.fn); err != nil {
		return nil, err
	}
	if w.errno != 0 {
		return nil, w.errno
	}
	n, bufs := w.n, w.bufs
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs, nil
}

// writev is the syscall.RawConn.Write callback: one writev, and true whatever happened, so
// the caller never parks waiting for the socket. EAGAIN (the socket's buffer is full) writes
// nothing.
func (w *rawWriter) writev(fd uintptr) bool {
	w.n, w.errno = 0, 0
	if len(w.iov) == 0 {
		return true
	}
	for {
		n, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		switch e {
		case 0:
			w.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return true
		default:
			w.errno = e
			return true
		}
	}
}
