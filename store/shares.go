package store

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Result is what became of a share event. Its numeric values are stored in
// the database: never renumber them.
type Result uint8

// Share results. A single share may produce several events: accepted
// locally, then forwarded, then accepted or rejected by the pool.
const (
	// ResultAcceptedLocal: met the miner's target; counted, not forwarded.
	ResultAcceptedLocal Result = 1
	// ResultForwarded: met the pool's target and was sent upstream.
	ResultForwarded Result = 2
	// ResultPoolAccepted: the pool accepted a forwarded share.
	ResultPoolAccepted Result = 3
	// ResultPoolRejected: the pool rejected a forwarded share; Reason
	// holds the pool's code or message.
	ResultPoolRejected Result = 4
	// ResultRejected: the proxy rejected the share to the miner; Reason
	// holds the code (stale, duplicate, low-difficulty, ...).
	ResultRejected Result = 5
	// ResultBlockCandidate: the share meets the network target.
	ResultBlockCandidate Result = 6
	// ResultPoolUnknown: a forwarded share got no verdict (timeout, connection lost).
	ResultPoolUnknown Result = 7
	// ResultNotForwarded: met the pool's target but was not sent (miner paused, pool down).
	ResultNotForwarded Result = 8
)

var resultNames = [...]string{
	ResultAcceptedLocal:  "accepted_local",
	ResultForwarded:      "forwarded",
	ResultPoolAccepted:   "pool_accepted",
	ResultPoolRejected:   "pool_rejected",
	ResultRejected:       "rejected",
	ResultBlockCandidate: "block_candidate",
	ResultPoolUnknown:    "pool_unknown",
	ResultNotForwarded:   "not_forwarded",
}

// String returns the result's name as used in the API and the console.
func (r Result) String() string {
	if r.Valid() {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Valid reports whether r is one of the defined results.
func (r Result) Valid() bool { return r >= ResultAcceptedLocal && r <= ResultNotForwarded }

// Lossless reports whether events with this result must never be dropped:
// they record what a pool saw or a block candidate.
func (r Result) Lossless() bool {
	return r != ResultAcceptedLocal && r != ResultRejected
}

// keptPastCap reports whether raw rows with this result are exempt from
// Config.ShareMaxRows: a pool's rejection, its silence and a block candidate
// are the evidence an operator takes to the pool.
func (r Result) keptPastCap() bool {
	return r == ResultPoolRejected || r == ResultPoolUnknown || r == ResultBlockCandidate
}

// ShareEvent is one row of the share ledger.
type ShareEvent struct {
	ID              int64 // assigned by the store; ignored by RecordShare
	Time            time.Time
	Worker          string
	Pool            string
	Job             string  // the upstream job id
	Difficulty      float64 // the difficulty the share was judged at
	ShareDifficulty float64 // the difficulty the share's hash achieved
	Result          Result
	Reason          string // reject code; empty unless rejected
	Hash            string // block-header hash, hex in display order
	// ExpectedSats is the share's expected value in satoshis (Difficulty / network
	// difficulty × the job's coinbase value); summed into the rollups only, for the
	// energy report's revenue_btc. Zero when the job's reward is unknown.
	ExpectedSats float64
}

func (e *ShareEvent) validate() error {
	switch {
	case !e.Result.Valid():
		return fmt.Errorf("%w: share %v", ErrInvalidRecord, e.Result)
	case e.Time.IsZero():
		return fmt.Errorf("%w: share without time", ErrInvalidRecord)
	case math.IsNaN(e.Difficulty) || math.IsNaN(e.ShareDifficulty) || math.IsNaN(e.ExpectedSats):
		// SQLite stores NaN as NULL, which the schema refuses: such a row
		// would fail its batch on every retry.
		return fmt.Errorf("%w: share difficulty is NaN", ErrInvalidRecord)
	}
	return nil
}

// RecordShare queues a share event for the ledger. It never blocks for
// lossy results (accepted_local, rejected): when their queue is full the row
// is shed and ErrShareShed returned. For lossless results it blocks while
// their queue is full, until ctx ends (returning ctx.Err(); the event counts
// in Stats.SharesLost) or the store closes (ErrClosed), except while writes
// are failing, when a full queue refuses it at once (ErrShareLost); a nil error means
// the event will be committed.
func (s *Store) RecordShare(ctx context.Context, e ShareEvent) error {
	if err := e.validate(); err != nil {
		return err
	}
	s.senders.RLock()
	defer s.senders.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if !e.Result.Lossless() {
		select {
		case s.lossy <- e:
			s.stats.enqueued.Add(1)
			return nil
		default:
		}
		if s.overflow.add(e) {
			s.stats.shed.Add(1)
		} else {
			s.stats.lost.Add(1)
		}
		s.noteDropped()
		return ErrShareShed
	}
	select {
	case s.lossless <- e:
		s.stats.enqueued.Add(1)
		return nil
	default:
	}
	if s.failing.Load() {
		// The queue is full because commits fail, not because the writer is
		// behind: room will not come within any wait a caller can afford, and
		// these callers are the proxy's pool and miner readers. Waiting here
		// stalled every pool answer and job behind it for ctx's whole bound.
		s.stats.lost.Add(1)
		s.noteDropped()
		return ErrShareLost
	}
	select {
	case s.lossless <- e:
		s.stats.enqueued.Add(1)
		return nil
	case <-ctx.Done():
		s.stats.lost.Add(1)
		s.noteDropped()
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
}

// Flush waits until every share event queued before the call is committed,
// and returns the error of the commit that carried them, if any.
func (s *Store) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.flushReq <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		return ErrClosed
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rollupKey identifies one row of share_rollup.
type rollupKey struct {
	minute int64 // Unix seconds, multiple of 60
	worker string
	pool   string
	result Result
	reason string
}

type rollupVal struct {
	n       int64
	diffSum float64
	sats    float64 // sum of ExpectedSats
}

func keyOf(e *ShareEvent) rollupKey {
	sec := e.Time.Unix()
	return rollupKey{
		minute: sec - mod(sec, 60),
		worker: e.Worker,
		pool:   e.Pool,
		result: e.Result,
		reason: e.Reason,
	}
}

// mod is the non-negative remainder, so minutes before 1970 floor correctly.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// overflowTable holds rollup counts of shed events until the writer merges
// them. It is bounded by distinct keys, not events.
type overflowTable struct {
	mu  sync.Mutex
	max int
	m   map[rollupKey]rollupVal
}

// add counts e and reports whether there was room for it.
func (o *overflowTable) add(e ShareEvent) bool {
	k := keyOf(&e)
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[k]
	if !ok && len(o.m) >= o.max {
		return false
	}
	if o.m == nil {
		o.m = make(map[rollupKey]rollupVal)
	}
	v.n++
	v.diffSum += e.Difficulty
	v.sats += e.ExpectedSats
	o.m[k] = v
	return true
}

// take returns the table's contents and empties it.
func (o *overflowTable) take() map[rollupKey]rollupVal {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.m
	o.m = nil
	return m
}
