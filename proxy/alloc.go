package proxy

import (
	"errors"
	"sync"
)

// slot is a miner's place in the extranonce space: the upstream connection index it rides on
// (the same index at every pool) and its fixed-width prefix on that connection.
type slot struct {
	conn   int
	prefix uint32
}

// errSpaceFull is returned when no upstream connection can take another miner.
var errSpaceFull = errors.New("proxy: extranonce space exhausted")

// allocator hands out slots: it fills connection 0 first, then opens index 1, and so on, and
// reuses freed prefixes. A miner keeps its slot for the life of its connection, whichever
// pool it mines for.
type allocator struct {
	mu       sync.Mutex
	perConn  int      // miners per upstream connection
	maxConns int      // upper bound on upstream connections per pool
	used     [][]bool // used[conn][prefix]
	count    []int
	next     []int // next prefix to try per conn (round robin keeps prefixes spread)
}

func newAllocator(perConn, maxConns int) *allocator {
	return &allocator{perConn: perConn, maxConns: maxConns}
}

func (a *allocator) get() (slot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := 0; c < a.maxConns; c++ {
		if c == len(a.used) {
			a.used = append(a.used, make([]bool, a.perConn))
			a.count = append(a.count, 0)
			a.next = append(a.next, 0)
		}
		if a.count[c] == a.perConn {
			continue
		}
		for i := 0; i < a.perConn; i++ {
			p := (a.next[c] + i) % a.perConn
			if !a.used[c][p] {
				a.used[c][p] = true
				a.count[c]++
				a.next[c] = (p + 1) % a.perConn
				return slot{conn: c, prefix: uint32(p)}, nil
			}
		}
	}
	return slot{}, errSpaceFull
}

func (a *allocator) put(s slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.conn < len(a.used) && a.used[s.conn][s.prefix] {
		a.used[s.conn][s.prefix] = false
		a.count[s.conn]--
	}
}

// conns is how many connection indexes have ever been opened.
func (a *allocator) conns() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}

// inUse reports whether any miner holds a slot on connection c.
func (a *allocator) inUse(c int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return c < len(a.count) && a.count[c] > 0
}
