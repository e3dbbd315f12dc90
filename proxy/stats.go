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

// rateWindow estimates hashrate from accepted difficulty over a sliding window of buckets.
type rateWindow struct {
	mu      sync.Mutex
	bucket  time.Duration
	sums    [10]float64
	stamp   [10]int64 // bucket number each sum belongs to
	started time.Time
}

func (w *rateWindow) add(now time.Time, diff float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started.IsZero() {
		w.started = now
	}
	b := now.UnixNano() / int64(w.bucket)
	i := b % int64(len(w.sums))
	if w.stamp[i] != b {
		w.stamp[i], w.sums[i] = b, 0
	}
	w.sums[i] += diff
}

// hashrate returns hashes per second over the window ending at now.
func (w *rateWindow) hashrate(now time.Time) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started.IsZero() {
		return 0
	}
	b := now.UnixNano() / int64(w.bucket)
	var sum float64
	for i := range w.sums {
		if b-w.stamp[i] < int64(len(w.sums)) {
			sum += w.sums[i]
		}
	}
	span := time.Duration(len(w.sums)) * w.bucket
	if age := now.Sub(w.started); age < span {
		span = age
	}
	if span < time.Second {
		span = time.Second
	}
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
}

// ShareSink receives every share event. RecordShare must not block: the store behind it
// batches asynchronously.
type ShareSink interface {
	RecordShare(ShareEvent)
}

// WorkerStats is one miner's row in a snapshot.
type WorkerStats struct {
	ID          uint64            `json:"id"`
	Worker      string            `json:"worker"`
	Remote      string            `json:"remote"`
	UserAgent   string            `json:"user_agent"`
	Protocol    string            `json:"protocol"`
	State       string            `json:"state"` // running | paused | connecting
	Pool        string            `json:"pool"`
	Difficulty  float64           `json:"difficulty"`
	Hashrate    float64           `json:"hashrate_hs"`
	Shares      map[string]uint64 `json:"shares"`
	Extranonce1 string            `json:"extranonce1"`
	Connected   time.Time         `json:"connected"`
	LastShare   time.Time         `json:"last_share,omitempty"`
}

// PoolStats is one pool's row in a snapshot.
type PoolStats struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Priority    int               `json:"priority"`
	Active      bool              `json:"active"`
	State       string            `json:"state"` // up | down | degraded
	Connections int               `json:"connections"`
	Difficulty  float64           `json:"difficulty"`
	Shares      map[string]uint64 `json:"shares"`
	LastJob     time.Time         `json:"last_job,omitempty"`
	LatencyMs   float64           `json:"latency_ms"`
	Hashrate    float64           `json:"hashrate_hs"`
	Reason      string            `json:"reason,omitempty"`
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
}

// Status is the proxy-wide summary.
type Status struct {
	Miners     int               `json:"miners"`
	Running    int               `json:"running"`
	Paused     int               `json:"paused"`
	ActivePool string            `json:"active_pool"`
	Hashrate   float64           `json:"hashrate_hs"`
	Shares     map[string]uint64 `json:"shares"`
	Blocks     uint64            `json:"block_candidates"`
	Drops      map[string]uint64 `json:"drops"`
	Conns      ConnStats         `json:"connections"`
	Started    time.Time         `json:"started"`
}
