package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Page selects records newest first, one page at a time. To get the next
// page, set Before to the ID of the last record of the previous one.
type Page struct {
	From   time.Time // inclusive; zero means no lower bound
	To     time.Time // exclusive; zero means no upper bound
	Before int64     // only records with ID < Before; 0 starts at the newest
	Limit  int       // records per page; 0 means DefaultPageLimit, capped at MaxPageLimit
}

// Page size bounds.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// where appends the page's conditions to a query with the given filters
// (column = value pairs, skipped when the value is "").
func (p Page) where(filters ...string) (string, []any) {
	var conds []string
	var args []any
	if !p.From.IsZero() {
		conds, args = append(conds, "ts >= ?"), append(args, p.From.UnixNano())
	}
	if !p.To.IsZero() {
		conds, args = append(conds, "ts < ?"), append(args, p.To.UnixNano())
	}
	if p.Before > 0 {
		conds, args = append(conds, "id < ?"), append(args, p.Before)
	}
	for i := 0; i+1 < len(filters); i += 2 {
		if filters[i+1] != "" {
			conds, args = append(conds, filters[i]+" = ?"), append(args, filters[i+1])
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	limit = min(limit, MaxPageLimit)
	q := ""
	if len(conds) > 0 {
		q = " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " ORDER BY id DESC LIMIT ?", append(args, limit)
}

// DecisionQuery selects decisions; an empty MinerID means every miner.
type DecisionQuery struct {
	Page
	MinerID string
}

// Decisions returns a page of decisions, newest first.
func (s *Store) Decisions(ctx context.Context, q DecisionQuery) ([]Decision, error) {
	where, args := q.where("miner", q.MinerID)
	rows, err := s.query(ctx, `SELECT id, ts, miner, action, target_kw, reason_code, reason, inputs
		FROM decisions`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var d Decision
		var ts int64
		var inputs string
		if err := rows.Scan(&d.ID, &ts, &d.MinerID, &d.Action, &d.TargetKW, &d.ReasonCode, &d.Reason, &inputs); err != nil {
			return nil, err
		}
		d.Time, d.Inputs = fromNanos(ts), []byte(inputs)
		out = append(out, d)
	}
	return out, rows.Err()
}

// EventQuery selects events; empty Kind, Subject or Actor match any.
type EventQuery struct {
	Page
	Kind    string
	Subject string
	Actor   string
}

// Events returns a page of audit events, newest first.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	where, args := q.where("kind", q.Kind, "subject", q.Subject, "actor", q.Actor)
	rows, err := s.query(ctx, `SELECT id, ts, kind, subject, detail, actor FROM events`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var ts int64
		var detail string
		if err := rows.Scan(&e.ID, &ts, &e.Kind, &e.Subject, &detail, &e.Actor); err != nil {
			return nil, err
		}
		e.Time, e.Detail = fromNanos(ts), []byte(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ShareQuery selects ledger rows; an empty Worker means every worker.
type ShareQuery struct {
	Page
	Worker string
}

// Shares returns a page of the share ledger, newest first by ID. IDs follow
// commit order, and pool verdicts may be committed ahead of local shares
// queued just before them: order by Time where it matters.
func (s *Store) Shares(ctx context.Context, q ShareQuery) ([]ShareEvent, error) {
	where, args := q.where("worker", q.Worker)
	rows, err := s.query(ctx, `SELECT id, ts, worker, pool, job, difficulty, share_diff, result, reason, hash
		FROM shares`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ShareEvent
	for rows.Next() {
		var e ShareEvent
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.Worker, &e.Pool, &e.Job, &e.Difficulty, &e.ShareDifficulty,
			&e.Result, &e.Reason, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = fromNanos(ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Tally counts share events of one result and sums their difficulty.
type Tally struct {
	Count   int64
	DiffSum float64
}

// WorkerStats aggregates one worker's share events towards one pool.
type WorkerStats struct {
	Worker          string
	Pool            string
	AcceptedLocal   Tally
	Forwarded       Tally
	PoolAccepted    Tally
	PoolRejected    Tally
	Rejected        Tally
	BlockCandidates Tally
	PoolUnknown     Tally
	NotForwarded    Tally
	// RejectReasons counts rejected and pool_rejected events by reason.
	RejectReasons map[string]int64
}

// Hashrate estimates the worker's hashes per second over window from the
// work of its locally accepted shares (difficulty 1 is 2^32 hashes).
func (w WorkerStats) Hashrate(window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return w.AcceptedLocal.DiffSum * math.Exp2(32) / window.Seconds()
}

func (w *WorkerStats) tally(r Result) *Tally {
	switch r {
	case ResultAcceptedLocal:
		return &w.AcceptedLocal
	case ResultForwarded:
		return &w.Forwarded
	case ResultPoolAccepted:
		return &w.PoolAccepted
	case ResultPoolRejected:
		return &w.PoolRejected
	case ResultRejected:
		return &w.Rejected
	case ResultBlockCandidate:
		return &w.BlockCandidates
	case ResultPoolUnknown:
		return &w.PoolUnknown
	case ResultNotForwarded:
		return &w.NotForwarded
	}
	return nil
}

// ShareStats returns per-worker, per-pool totals over the minutes that
// overlap [from, to), read from the rollup; an empty worker means every
// worker. Minutes older than Config.MinuteRollupRetention are kept as hours,
// so there it counts the hours that overlap [from, to). Results are ordered
// by worker, then pool.
func (s *Store) ShareStats(ctx context.Context, from, to time.Time, worker string) ([]WorkerStats, error) {
	f, t := from.Unix(), to.Unix()
	cond := ""
	args := []any{f - mod(f, 60), t}
	if worker != "" {
		cond = " AND worker = ?"
		args = append(args, worker)
	}
	args = append(args, f-mod(f, 3600), t)
	if worker != "" {
		args = append(args, worker)
	}
	q := `SELECT worker, pool, result, reason, SUM(n), SUM(diff_sum) FROM (
		SELECT worker, pool, result, reason, n, diff_sum FROM share_rollup
		WHERE minute >= ? AND minute < ?` + cond + `
		UNION ALL
		SELECT worker, pool, result, reason, n, diff_sum FROM share_rollup_hour
		WHERE hour >= ? AND hour < ?` + cond + `
	) GROUP BY worker, pool, result, reason ORDER BY worker, pool`
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WorkerStats
	for rows.Next() {
		var w, p, reason string
		var r Result
		var t Tally
		if err := rows.Scan(&w, &p, &r, &reason, &t.Count, &t.DiffSum); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Worker != w || out[len(out)-1].Pool != p {
			out = append(out, WorkerStats{Worker: w, Pool: p})
		}
		cur := &out[len(out)-1]
		if dst := cur.tally(r); dst != nil {
			dst.Count += t.Count
			dst.DiffSum += t.DiffSum
		}
		if r == ResultRejected || r == ResultPoolRejected {
			if cur.RejectReasons == nil {
				cur.RejectReasons = make(map[string]int64)
			}
			cur.RejectReasons[reason] += t.Count
		}
	}
	return out, rows.Err()
}

// HashratePoint is one step of a worker's hashrate history.
type HashratePoint struct {
	// At is the start of the step, Unix seconds.
	At int64
	// HashesPerSec is the work of the worker's locally accepted shares in
	// the step (difficulty 1 is 2^32 hashes) over the step's length.
	HashesPerSec float64
}

// MaxHistoryPoints bounds one WorkerHashrate answer.
const MaxHistoryPoints = 1000

// WorkerHashrate returns one worker's hashrate, one point per step over
// [from, to) (from rounded down and to rounded up to whole steps; step a
// multiple of a minute), read from the share rollup: minutes where they
// are kept, hours where minutes were folded. An hour spread over steps
// shorter than an hour gives each of them the hour's average. Steps without
// shares are 0.
func (s *Store) WorkerHashrate(ctx context.Context, worker string, from, to time.Time, step time.Duration) ([]HashratePoint, error) {
	st := int64(step / time.Second)
	if st < 60 || st%60 != 0 {
		return nil, fmt.Errorf("store: history step %v is not a whole number of minutes", step)
	}
	f, t := from.Unix(), to.Unix()
	f -= mod(f, st)
	if r := mod(t, st); r != 0 {
		t += st - r
	}
	n := (t - f) / st
	if n <= 0 || n > MaxHistoryPoints {
		return nil, fmt.Errorf("store: history of %d points (1..%d)", n, MaxHistoryPoints)
	}
	work := make([]float64, n)
	add := func(at int64, diff float64) {
		if at >= f && at < t {
			work[(at-f)/st] += diff
		}
	}
	q := `SELECT minute, 60, SUM(diff_sum) FROM share_rollup
		WHERE worker = ? AND result = ? AND minute >= ? AND minute < ? GROUP BY minute
		UNION ALL
		SELECT hour, 3600, SUM(diff_sum) FROM share_rollup_hour
		WHERE worker = ? AND result = ? AND hour >= ? AND hour < ? GROUP BY hour`
	rows, err := s.query(ctx, q, worker, ResultAcceptedLocal, f, t, worker, ResultAcceptedLocal, f-mod(f, 3600), t)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var at, length int64
		var diff float64
		if err := rows.Scan(&at, &length, &diff); err != nil {
			return nil, err
		}
		if length <= st {
			add(at-mod(at, st), diff)
			continue
		}
		// An hour over shorter steps: each step gets its share of the hour.
		for sub := at; sub < at+length; sub += st {
			add(sub, diff*float64(st)/float64(length))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]HashratePoint, n)
	for i := range out {
		out[i] = HashratePoint{At: f + int64(i)*st, HashesPerSec: work[i] * math.Exp2(32) / float64(st)}
	}
	return out, nil
}
