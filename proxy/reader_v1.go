package proxy

import (
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

// awaitLine waits, holding no read buffer, until the miner sends its next bytes, then lends
// the line reader a buffer. The replies held for the lines already read go out first.
func (s *v1Conn) awaitLine(lr *sv1.LineReader) error {
	if b := lr.Detach(); len(b) == lineBufSize {
		lineBufs.Put((*[lineBufSize]byte)(b))
	}
	s.releaseReplies()
	if err := s.raw.Read(waitReadable); err != nil {
		return err
	}
	lr.Attach(lineBufs.Get().(*[lineBufSize]byte)[:])
	return nil
}
