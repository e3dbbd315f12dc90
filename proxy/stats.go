package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Result is what happened to one share.
type Result uint8

// Share results, as counted and recorded in the ledger.
const (
	ResultAccepted     Result = iota // valid under the miner's target (answered true)
	ResultStale                      // unknown or retired job (21)
	ResultDuplicate                  // seen before (22)
	ResultLowDiff                    // above the miner's target (23)
	ResultInvalid                    // malformed, bad extranonce2, ntime, version bits (20)
	ResultForwarded                  // sent upstream (meets the pool's target)
	ResultPoolAccepted               // the pool said yes
	ResultPoolRejected               // the pool said no
	ResultPoolUnknown                // no verdict (timeout or connection lost)
	ResultNotForwarded               // met the pool's target but the pool is gone (answered true)
	ResultBlock                      // met the network target
	ResultPaused                     // valid, but the miner's gate is closed: not forwarded, answered as rejected (26)
	numResults
)

var resultNames = [numResults]string{"accepted", "stale", "duplicate", "low_difficulty", "invalid", "forwarded", "pool_accepted", "pool_rejected", "pool_unknown", "not_forwarded", "block_candidate", "paused"}

func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "unknown"
}

// Counters counts shares by result. Safe for concurrent use.
type Counters struct {
	n [numResults]atomic.Uint64
}

func (c *Counters) add(r Result) { c.n[r].Add(1) }

// Get returns the count for r.
func (c *Counters) Get(r Result) uint64 { return c.n[r].Load() }

// Map returns the counters by result name.
func (c *Counters) Map() map[string]uint64 {
	m := make(map[string]uint64, numResults)
	for i := Result(0); i < numResults; i++ {
		m[i.String()] = c.n[i].Load()
	}
	return m
}

// minerCounters is one miner's Counters, allocated at its first share: an idle miner holds
// a nil pointer (8 bytes) instead of 96. Safe for concurrent use; the zero value is ready.
type minerCounters struct {
	p atomic.Pointer[Counters]
}

func (m *minerCounters) add(r Result) {
	c := m.p.Load()
	if c == nil {
		m.p.CompareAndSwap(nil, new(Counters))
		c = m.p.Load()
	}
	c.add(r)
}

// Get returns the count for r.
func (m *minerCounters) Get(r Result) uint64 {
	if c := m.p.Load(); c != nil {
		return c.Get(r)
	}
	return 0
}

// Map returns the counters by result name, every result present (0 before any share).
func (m *minerCounters) Map() map[string]uint64 {
	if c := m.p.Load(); c != nil {
		return c.Map()
	}
	var none Counters
	return none.Map()
}

// Hashrate windows. A meter keeps accepted difficulty in coarse buckets aligned to absolute
// time, as pools show it: 10 × 30 s for 5 min, 12 × 5 min for 1 h, 24 × 1 h for 24 h. That
// is 46 fixed slots per miner, whatever its share rate, allocated at its first share.
const (
	bucket5m  = 30 * time.Second
	bucket1h  = 5 * time.Minute
	bucket24h = time.Hour
)

// Rates is a hashrate estimate over the three windows, in hashes per second.
type Rates struct {
	H5m  float64
	H1h  float64
	H24h float64
}

// hashMeter estimates hashrate from accepted share difficulty (diff × 2^32 hashes each).
// Safe for concurrent use; the zero value is ready. It holds no slots until the first share:
// an idle miner costs 16 bytes here instead of 376.
type hashMeter struct {
	mu sync.Mutex
	w  *rateWindows
}

// rateWindows is the accepted difficulty per bucket, in three rings indexed by the bucket's
// number since the Unix epoch modulo the ring's length. last (Unix nanoseconds of the latest
// share) is the one epoch base they share: a ring's newest bucket is the one holding last,
// and its slot k holds the bucket congruent to k among the len(ring) ending there. That
// spares a bucket number per slot (46 × 8 bytes).
type rateWindows struct {
	last int64
	m5   [10]float64
	h1   [12]float64
	d24  [24]float64
}

func (m *hashMeter) add(now time.Time, diff float64) {
	t := now.UnixNano()
	m.mu.Lock()
	w := m.w
	if w == nil {
		w = &rateWindows{last: t}
		m.w = w
	}
	if t > w.last {
		advanceRing(w.m5[:], bucket5m, w.last, t)
		advanceRing(w.h1[:], bucket1h, w.last, t)
		advanceRing(w.d24[:], bucket24h, w.last, t)
		w.last = t
	}
	addRing(w.m5[:], bucket5m, w.last, t, diff)
	addRing(w.h1[:], bucket1h, w.last, t, diff)
	addRing(w.d24[:], bucket24h, w.last, t, diff)
	m.mu.Unlock()
}

// rates estimates each window ending at now. since is when observation began (the miner's
// connect, the proxy's start): a window longer than that is estimated over the time
// actually observed, so a miner 2 minutes old reads its true rate, not 2/5 of it. A window
// with no share reads 0.
func (m *hashMeter) rates(now, since time.Time) Rates {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.w
	if w == nil {
		return Rates{}
	}
	return Rates{
		H5m:  ringRate(w.m5[:], bucket5m, w.last, now, since),
		H1h:  ringRate(w.h1[:], bucket1h, w.last, now, since),
		H24h: ringRate(w.d24[:], bucket24h, w.last, now, since),
	}
}

// ringIndex is b's slot in a ring of n, for bucket numbers of either sign.
func ringIndex(b int64, n int) int {
	i := int(b % int64(n))
	if i < 0 {
		i += n
	}
	return i
}

// advanceRing empties the slots of the buckets after from's up to to's, which the ring now
// holds instead of buckets that fell out of it.
func advanceRing(s []float64, d time.Duration, from, to int64) {
	head, b := from/int64(d), to/int64(d)
	for k := head + 1; k <= b && k <= head+int64(len(s)); k++ {
		s[ringIndex(k, len(s))] = 0
	}
}

// addRing adds diff to the bucket holding t, unless that bucket is older than the ring
// ending at last's (a share stamped before a clock stepped back by more than the window).
func addRing(s []float64, d time.Duration, last, t int64, diff float64) {
	head, b := last/int64(d), t/int64(d)
	if b <= head-int64(len(s)) {
		return
	}
	s[ringIndex(b, len(s))] += diff
}

// ringRate sums the current bucket and the len-1 before it, and divides by the time they
// cover: len-1 whole buckets plus the elapsed part of the current one (so between 9/10 and
// all of the nominal window), or less when observation began later. A slot counts when the
// bucket it holds (in the ring ending at last's) is in the window ending at now's.
func ringRate(s []float64, d time.Duration, last int64, now, since time.Time) float64 {
	head, b := last/int64(d), now.UnixNano()/int64(d)
	var sum float64
	for i, x := range s {
		k := head - int64(ringIndex(head-int64(i), len(s))) // the bucket slot i holds
		if age := b - k; age >= 0 && age < int64(len(s)) {
			sum += x
		}
	}
	if sum == 0 {
		return 0
	}
	span := time.Duration(len(s)-1)*d + time.Duration(now.UnixNano()-b*int64(d))
	if !since.IsZero() {
		span = min(span, now.Sub(since))
	}
	span = max(span, time.Second)
	return sum * 4294967296 / span.Seconds()
}

// ShareEvent is one ledger record.
type ShareEvent struct {
	Time       time.Time
	Worker     string
	Pool       string
	JobID      string // upstream job id
	Difficulty float64
	ShareDiff  float64
	Result     Result
	Reason     string
	Hash       [32]byte // internal byte order; zero when the share never hashed
	// ExpectedSats is, on a pool-accepted share, its expected value in satoshis
	// (Difficulty / network difficulty × the job's coinbase value); 0 otherwise.
	ExpectedSats float64
}

// ShareSink receives every share event. RecordShare must not block: the store behind it
// batches asynchronously.
type ShareSink interface {
	RecordShare(ShareEvent)
}

// WorkerStats is one miner's row in a snapshot.
type WorkerStats struct {
	ID         uint64  `json:"id"`
	Worker     string  `json:"worker"`
	Remote     string  `json:"remote"`
	UserAgent  string  `json:"user_agent"`
	Protocol   string  `json:"protocol"`
	State      string  `json:"state"` // running | paused | connecting
	Pool       string  `json:"pool"`
	Difficulty float64 `json:"difficulty"`
	// Hashrate is the "now" view: the 5 min window, 0 while paused (a paused miner's
	// last shares are history, not what it mines now).
	Hashrate float64 `json:"hashrate_hs"`
	// Hashrate5m, Hashrate1h and Hashrate24h are what the miner's accepted shares prove
	// over each window, paused or not.
	Hashrate5m  float64           `json:"hashrate_5m_hs"`
	Hashrate1h  float64           `json:"hashrate_1h_hs"`
	Hashrate24h float64           `json:"hashrate_24h_hs"`
	Shares      map[string]uint64 `json:"shares"`
	Extranonce1 string            `json:"extranonce1"`
	Connected   time.Time         `json:"connected"`
	LastShare   time.Time         `json:"last_share,omitempty"`
}

// PoolStats is one pool's row in a snapshot.
type PoolStats struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	User     string `json:"user"` // the pool account (never its password)
	Priority int    `json:"priority"`
	Active   bool   `json:"active"`
	// Forced: an operator switched the miners to this pool; it keeps them while it is
	// healthy, whatever its priority.
	Forced      bool              `json:"forced"`
	State       string            `json:"state"` // up | down | degraded
	Connections int               `json:"connections"`
	Difficulty  float64           `json:"difficulty"`
	Shares      map[string]uint64 `json:"shares"`
	// LastJob is when the pool last sent work; nil (absent) when it never has.
	LastJob   *time.Time `json:"last_job,omitempty"`
	LatencyMs float64    `json:"latency_ms"`
	// Hashrate is the 5 min window of shares counted toward this pool; the windows follow.
	Hashrate    float64 `json:"hashrate_hs"`
	Hashrate5m  float64 `json:"hashrate_5m_hs"`
	Hashrate1h  float64 `json:"hashrate_1h_hs"`
	Hashrate24h float64 `json:"hashrate_24h_hs"`
	// Weight is the pool's [[pool]] weight: pools of one priority with a weight share the
	// miners' time in that proportion (0: the pool takes no part in a split).
	Weight float64 `json:"weight"`
	// AcceptedDifficulty is the summed difficulty of the valid shares mined for this pool
	// since start: the pools' parts of it are how the work was split between them.
	AcceptedDifficulty float64 `json:"accepted_difficulty"`
	Reason             string  `json:"reason,omitempty"`
	// WorkerNames is how shares are named at the pool: "passthrough" (<pool user>.<worker>)
	// or "pool_user" (all under the pool user), with the reason for pool_user.
	WorkerNames       string `json:"worker_names"`
	WorkerNamesReason string `json:"worker_names_reason,omitempty"`
	// Unknown counts forwarded shares the pool did not answer within submit_timeout.
	Unknown uint64 `json:"unknown"`
	// Unforwarded counts shares that met the pool's target but never reached it: no
	// connection, or the connection dropped while they were in flight. Their miners were
	// answered from local validation.
	Unforwarded uint64 `json:"unforwarded"`
	// Stale counts shares the pool rejected as stale (for a job it no longer takes).
	Stale uint64 `json:"stale"`
}

// Status is the proxy-wide summary.
type Status struct {
	Miners     int    `json:"miners"`
	Running    int    `json:"running"`
	Paused     int    `json:"paused"`
	ActivePool string `json:"active_pool"`
	// Hashrate is the "now" view: the 5 min windows of the connected miners that are not
	// paused. Hashrate5m, 1h and 24h are every share counted toward a pool over each window,
	// departed miners included.
	Hashrate    float64           `json:"hashrate_hs"`
	Hashrate5m  float64           `json:"hashrate_5m_hs"`
	Hashrate1h  float64           `json:"hashrate_1h_hs"`
	Hashrate24h float64           `json:"hashrate_24h_hs"`
	Shares      map[string]uint64 `json:"shares"`
	Blocks      uint64            `json:"block_candidates"`
	Drops       map[string]uint64 `json:"drops"`
	Conns       ConnStats         `json:"connections"`
	Started     time.Time         `json:"started"`
}
