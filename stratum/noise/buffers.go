package noise

import (
	"io"
	"sync"
)

// Buffers are what a connection costs at rest: with thousands of mostly idle
// miners, a 4 KiB read buffer and a write buffer each would be most of the
// proxy's memory (lnd's brontide pools them the same way). A Conn borrows a
// read buffer from a pool when it reads from the network and gives it back
// as soon as it holds no unread bytes, so a reader that waits for the
// socket to be readable before reading (as the proxy does) holds none while
// its peer is quiet; one that parks in the read holds one, as a
// bufio.Reader would. Writes encrypt into a pooled buffer that goes back as
// soon as the bytes are sent.

const (
	// readBufSize is the pooled read buffer: room for a burst of share
	// submissions (about 80 bytes each on the wire) in one read.
	readBufSize = 4096
	// keepWriteBuf is the largest write buffer returned to the pool; a rare
	// large frame is left to the garbage collector.
	keepWriteBuf = 64 << 10
)

var (
	readBufs  = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

func getWriteBuf() *[]byte { return writeBufs.Get().(*[]byte) }

func putWriteBuf(b *[]byte) {
	if cap(*b) > keepWriteBuf {
		return
	}
	*b = (*b)[:0]
	writeBufs.Put(b)
}

// inbuf is a Conn's receive buffer, borrowed while it holds unread bytes
// (buf[r:w]) or a read into it is under way.
type inbuf struct {
	buf  *[]byte
	r, w int
	err  error // an error that came with data, returned once the data is taken
}

// read is bufio.Reader.Read over a borrowed buffer: buffered bytes first; a
// read of at least readBufSize bytes goes straight into p; otherwise one read
// from r fills the buffer. The buffer goes back once it is drained.
func (in *inbuf) read(r io.Reader, p []byte) (int, error) {
	if in.r == in.w {
		if in.err != nil {
			err := in.err
			in.err = nil
			return 0, err
		}
		if len(p) >= readBufSize {
			return r.Read(p)
		}
		if in.buf == nil {
			in.buf = readBufs.Get().(*[]byte)
		}
		n, err := r.Read(*in.buf)
		in.r, in.w = 0, n
		if n == 0 {
			in.release()
			return 0, err
		}
		in.err = err
	}
	n := copy(p, (*in.buf)[in.r:in.w])
	in.r += n
	if in.r == in.w {
		in.release()
	}
	return n, nil
}

func (in *inbuf) release() {
	if in.buf != nil {
		readBufs.Put(in.buf)
		in.buf = nil
	}
	in.r, in.w = 0, 0
}

// read reads the peer's ciphertext through the Conn's buffer. Caller holds
// rmu.
func (c *Conn) read(p []byte) (int, error) { return c.in.read(c.conn, p) }
