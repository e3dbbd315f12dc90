package loadfleet

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// KeyExtranonceBytes is how much of a share's upstream extranonce2 a Key holds.
const KeyExtranonceBytes = 12

// Key identifies a share by what survives the trip through the proxy: the upstream
// extranonce2 (the miner's extranonce1 prefix, its own extranonce2 and the proxy's zero
// padding; longer regions are cut, shorter ones zero-filled) and the nonce.
type Key struct {
	Extranonce [KeyExtranonceBytes]byte
	Nonce      uint32
}

// NewKey builds the key of a share from the extranonce bytes in upstream order (one or more
// parts, concatenated) and the nonce.
func NewKey(nonce uint32, parts ...[]byte) Key {
	k := Key{Nonce: nonce}
	n := 0
	for _, p := range parts {
		n += copy(k.Extranonce[n:], p)
	}
	return k
}

func (k *Key) shard() int {
	h := binary.LittleEndian.Uint64(k.Extranonce[:8]) ^ uint64(binary.LittleEndian.Uint32(k.Extranonce[8:]))<<29 ^ uint64(k.Nonce)*0x9e3779b97f4a7c15
	return int(h>>58) & (trackerShards - 1)
}

const trackerShards = 64

// Tracker holds the write times (nanoseconds on any clock the two sides share) of shares in
// flight to a pool, until the pool side takes them. It is sharded so that thousands of
// miners and the pool's reader do not meet on one lock.
type Tracker struct {
	shards [trackerShards]struct {
		mu sync.Mutex
		m  map[Key]int64
		_  [40]byte // keep shards on separate cache lines
	}
	added, taken, missed, dupAdds atomic.Uint64
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	t := &Tracker{}
	for i := range t.shards {
		t.shards[i].m = map[Key]int64{}
	}
	return t
}

// Add records that the share k was written at t.
func (t *Tracker) Add(k Key, at int64) {
	s := &t.shards[k.shard()]
	s.mu.Lock()
	if _, ok := s.m[k]; ok {
		t.dupAdds.Add(1)
	}
	s.m[k] = at
	s.mu.Unlock()
	t.added.Add(1)
}

// Take returns and forgets the write time of k; ok is false for a share never added (or
// already taken), which is counted as missed.
func (t *Tracker) Take(k Key) (at int64, ok bool) {
	s := &t.shards[k.shard()]
	s.mu.Lock()
	at, ok = s.m[k]
	if ok {
		delete(s.m, k)
	}
	s.mu.Unlock()
	if ok {
		t.taken.Add(1)
	} else {
		t.missed.Add(1)
	}
	return at, ok
}

// Expire forgets entries written before cutoff and returns how many there were: shares the
// proxy never forwarded (stale after a block, or dropped).
func (t *Tracker) Expire(cutoff int64) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, at := range s.m {
			if at < cutoff {
				delete(s.m, k)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// TrackerStats counts what went through a Tracker.
type TrackerStats struct {
	Added   uint64 `json:"added"`
	Taken   uint64 `json:"matched"`
	Missed  uint64 `json:"unmatched_at_pool"`
	DupAdds uint64 `json:"duplicate_adds"`
	Pending int    `json:"pending"`
}

// Stats returns the counters and the number of shares still pending.
func (t *Tracker) Stats() TrackerStats {
	st := TrackerStats{Added: t.added.Load(), Taken: t.taken.Load(), Missed: t.missed.Load(), DupAdds: t.dupAdds.Load()}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		st.Pending += len(s.m)
		s.mu.Unlock()
	}
	return st
}
