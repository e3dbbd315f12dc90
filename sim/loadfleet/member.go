package loadfleet

import (
	"context"
	"net"
	"sync/atomic"
)

// member is one fleet connection, V1 (loadMiner) or V2 (v2Miner). The fleet dials the TCP
// connection, then the member owns it: handshake runs on the dialing goroutine, readLoop on
// its own, submit on the member's pacer.
type member interface {
	base() *minerBase
	// handshake speaks the protocol's opening on base().conn (and may replace it with an
	// encrypted connection). It must not block on replies: readLoop handles those.
	handshake(ctx context.Context) error
	// readLoop reads until the connection ends.
	readLoop()
	// submit writes one share or says why it cannot (errNoJob, errInflight, errTries,
	// errDead).
	submit() error
}

// minerBase is what the fleet reads of every member, whatever its protocol.
type minerBase struct {
	f    *Fleet
	idx  int
	name string
	conn net.Conn

	inflight atomic.Int32
	dead     atomic.Bool
	blocks   atomic.Uint64 // distinct prevhashes seen
	blockAt  atomic.Int64  // fleet nanos when the latest new prevhash was read
}

func (b *minerBase) base() *minerBase { return b }

// markBlock records that the member read a new prevhash (or its first work) at now.
func (b *minerBase) markBlock(now int64) {
	b.blockAt.Store(now)
	b.blocks.Add(1)
	b.f.blockSeen.Add(1)
}

// lost marks the connection dead, counting a disconnect unless the fleet is closing or the
// member was already dead.
func (b *minerBase) lost() {
	if !b.dead.Swap(true) && !b.f.closing.Load() {
		b.f.stats.disconnects.Add(1)
	}
}

// isV2 reports whether member i of n speaks SV2 when v2 of the n do: the V2 members are
// spread evenly (Bresenham), so a mixed fleet interleaves the protocols and every pacer gets
// its share of each.
func isV2(i, n, v2 int) bool {
	return (i+1)*v2/n > i*v2/n
}
