package proxy

import (
	"errors"
	"io"
	"sync"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// lineBufSize is the read buffer a V1 connection borrows while it has bytes to read: room
// for a burst of submits (about 200 bytes each) in one read. A longer line grows a buffer of
// the connection's own, up to max_line.
const lineBufSize = 2048

// lineBufs are the borrowed read buffers: a miner waiting for its next line holds none, so
// 10,000 idle miners share the few that the miners being read at the moment hold.
var lineBufs = sync.Pool{New: func() any { return new([lineBufSize]byte) }}

// rawReader is one non-blocking read into a borrowed buffer, pooled like rawWriter: the
// callback syscall.RawConn.Read runs is made once per pooled value, not per read.
type rawReader struct {
	s        *v1Conn
	buf      *[lineBufSize]byte // borrowed for the read that found bytes; nil while none has
	n        int
	err      error
	released bool // the held replies went out before the first wait
	noWait   bool // one read, never a wait: empty reports EAGAIN, for parking
	empty    bool // the socket had nothing (with noWait)
	fn       func(fd uintptr) bool
}

var rawReaders = sync.Pool{New: func() any { return new(rawReader) }}

// awaitLine waits, holding no read buffer, until the miner sends its next bytes, and reads
// them into a borrowed buffer that it lends the line reader: one read both finds the miner
// ready and fetches its lines (a readiness peek then a read was two system calls per burst).
//
// The replies held for the lines already read are written when the socket has nothing more
// (rawReader.read), not before looking: a miner whose next submits are already there gets
// their replies in the same write, so under load the writes per share fall below one.
// Those to the new lines are held until they are answered (v1Input).
func (s *v1Conn) awaitLine(lr *sv1.LineReader) error {
	return s.awaitOrPark(lr, false)
}

// errParked is awaitOrPark's answer when the connection went to the parker.
var errParked = errors.New("parked")

// awaitOrPark is awaitLine that, with mayPark, first reads once without waiting and, when
// the socket has nothing, parks the connection (errParked: the caller must return at once and
// leave s alone) instead of waiting in the Go poller. When the parker refuses (the
// connection is dead, the proxy closing) it waits as awaitLine does.
func (s *v1Conn) awaitOrPark(lr *sv1.LineReader, mayPark bool) error {
	if b := lr.Detach(); len(b) == lineBufSize {
		lineBufs.Put((*[lineBufSize]byte)(b))
	}
	if !lr.Detached() {
		// Skipping an oversized line in a buffer of its own: the line reader reads.
		s.releaseReplies()
		return nil
	}
	r := rawReaders.Get().(*rawReader)
	if r.fn == nil {
		r.fn = r.read // here, not in New: read leads back to awaitOrPark (a parked miner killed)
	}
	r.s = s
	r.noWait = mayPark
	if !mayPark {
		s.leaveBurst() // a wait in the poller is this miner's alone
	}
	err := s.raw.Read(r.fn)
	if err == nil && r.empty {
		// Nothing to read: the buffer is back in the pool and the held replies are out.
		if s.p.park.park(s) {
			*r = rawReader{fn: r.fn}
			rawReaders.Put(r)
			return errParked
		}
		r.noWait, r.empty = false, false
		s.leaveBurst()
		err = s.raw.Read(r.fn)
	}
	if err == nil {
		err = r.err
	}
	if err == nil && r.n > 0 {
		lr.AttachFilled(r.buf[:], r.n)
		r.buf = nil
		s.holdReplies()
	} else {
		if err == nil {
			err = io.EOF
		}
		s.releaseReplies() // what was answered still goes out before the close
	}
	if r.buf != nil {
		lineBufs.Put(r.buf)
	}
	*r = rawReader{fn: r.fn}
	rawReaders.Put(r)
	return err
}

// nothingToRead is the read callback's EAGAIN: the buffer goes back, so a miner waiting for
// its next line holds none, and the replies held for the lines read so far are written, once,
// before the reader waits.
func (r *rawReader) nothingToRead() {
	lineBufs.Put(r.buf)
	r.buf = nil
	if !r.released {
		r.released = true
		r.s.releaseReplies()
	}
}
