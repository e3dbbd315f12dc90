package noise

import (
	"io"
	"sync"
)

// Buffers are what a connection costs at rest: with thousands of mostly idle
// miners, a 4 KiB read buffer and a write buffer each would be most of the
// proxy's memory (lnd's brontide pools them the same way). A Conn therefore
// keeps a small read buffer of its own, sized for one share submission, and
// borrows a large one from a pool only while data keeps arriving; writes
// encrypt into a pooled buffer that goes back as soon as the bytes are sent.

const (
	// smallRead is the read buffer every Conn keeps: a SubmitSharesExtended
	// frame is about 80 bytes on the wire, so an idle miner's share arrives
	// in one read.
	smallRead = 128
	// bigRead is the pooled read buffer a Conn holds while reads fill its
	// buffer, i.e. while the peer sends faster than frames are taken.
	bigRead = 4096
	// keepWriteBuf is the largest write buffer returned to the pool; a rare
	// large frame is left to the garbage collector.
	keepWriteBuf = 64 << 10
)

var (
	readBufs  = sync.Pool{New: func() any { b := make([]byte, bigRead); return &b }}
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

// inbuf is a Conn's receive buffer: small while the peer is quiet, a pooled
// bigRead buffer while a read fills the one in use. Unread bytes are
// buf()[r:w]; the buffer changes only when they are all taken.
type inbuf struct {
	small [smallRead]byte
	big   *[]byte
	r, w  int
	// full: the last fill filled the buffer, so more data is probably
	// waiting in the socket.
	full bool
	err  error // an error that came with data, returned once the data is taken
}

func (in *inbuf) buf() []byte {
	if in.big != nil {
		return *in.big
	}
	return in.small[:]
}

// read is bufio.Reader.Read over inbuf: buffered bytes first; a read of at
// least bigRead bytes goes straight into p; otherwise one read from r fills
// the buffer. The pooled buffer is taken when the small one came back full
// and returned when it did not.
func (in *inbuf) read(r io.Reader, p []byte) (int, error) {
	if in.r == in.w {
		if in.err != nil {
			err := in.err
			in.err = nil
			return 0, err
		}
		if len(p) >= bigRead {
			return r.Read(p)
		}
		in.r, in.w = 0, 0
		switch {
		case in.full && in.big == nil:
			in.big = readBufs.Get().(*[]byte)
		case !in.full && in.big != nil:
			readBufs.Put(in.big)
			in.big = nil
		}
		b := in.buf()
		n, err := r.Read(b)
		in.w, in.full = n, n == len(b)
		if n == 0 {
			return 0, err
		}
		in.err = err
	}
	n := copy(p, in.buf()[in.r:in.w])
	in.r += n
	return n, nil
}

// read reads the peer's ciphertext through the Conn's buffer. Caller holds
// rmu.
func (c *Conn) read(p []byte) (int, error) { return c.in.read(c.conn, p) }
