package store

import (
	"context"
	"encoding/json"
	"time"
)

// The export pages below read a time range in ascending order, one bounded page per call,
// resuming after a cursor: an exporter writes each page to its client between calls, so a
// slow client never holds a read connection and no table is read whole into memory.

// DecisionsAfter returns up to limit decisions with From <= time < To and ID > after, by ID
// ascending; a non-empty miner keeps that miner alone.
func (s *Store) DecisionsAfter(ctx context.Context, from, to time.Time, miner string, after int64, limit int) ([]Decision, error) {
	q := `SELECT id, ts, miner, action, target_kw, reason_code, reason, inputs FROM decisions
		WHERE ts >= ? AND ts < ? AND id > ?`
	args := []any{from.UnixNano(), to.UnixNano(), after}
	if miner != "" {
		q += ` AND miner = ?`
		args = append(args, miner)
	}
	rows, err := s.query(ctx, q+` ORDER BY id LIMIT ?`, append(args, pageLimit(limit))...)
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
		d.Time, d.Inputs = fromNanos(ts), json.RawMessage(inputs)
		out = append(out, d)
	}
	return out, rows.Err()
}

// EventsAfter returns up to limit events with From <= time < To and ID > after, by ID
// ascending; a non-empty subject keeps that subject alone.
func (s *Store) EventsAfter(ctx context.Context, from, to time.Time, subject string, after int64, limit int) ([]Event, error) {
	q := `SELECT id, ts, kind, subject, detail, actor FROM events WHERE ts >= ? AND ts < ? AND id > ?`
	args := []any{from.UnixNano(), to.UnixNano(), after}
	if subject != "" {
		q += ` AND subject = ?`
		args = append(args, subject)
	}
	rows, err := s.query(ctx, q+` ORDER BY id LIMIT ?`, append(args, pageLimit(limit))...)
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
		e.Time, e.Detail = fromNanos(ts), json.RawMessage(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

// EnergyPage is the site and group intervals of up to a page of interval starts.
type EnergyPage struct {
	Site   []EnergyInterval
	Groups []GroupEnergy // by start, then group
	// Next is the cursor for the following page: the last start of this one. Zero when the
	// page is empty.
	Next time.Time
}

// EnergyAfter returns the site and group intervals of the first limit interval starts in
// [from, to) after the cursor (zero: from the beginning).
func (s *Store) EnergyAfter(ctx context.Context, from, to, after time.Time, limit int) (EnergyPage, error) {
	lo := from.UnixNano() - 1
	if !after.IsZero() && after.UnixNano() > lo {
		lo = after.UnixNano()
	}
	var p EnergyPage
	var last int64
	err := func() error {
		rows, err := s.query(ctx, `SELECT MAX(start) FROM (
			SELECT start FROM energy WHERE start > ? AND start < ?
			UNION SELECT DISTINCT start FROM energy_group WHERE start > ? AND start < ?
			ORDER BY start LIMIT ?)`, lo, to.UnixNano(), lo, to.UnixNano(), pageLimit(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		var v *int64
		for rows.Next() {
			if err := rows.Scan(&v); err != nil {
				return err
			}
		}
		if v != nil {
			last = *v
		}
		return rows.Err()
	}()
	if err != nil || last == 0 {
		return p, err
	}
	site, err := s.query(ctx, `SELECT start, length_ns, import_kwh, mining_kwh, ai_kwh, budget_kwh
		FROM energy WHERE start > ? AND start <= ? ORDER BY start`, lo, last)
	if err != nil {
		return p, err
	}
	for site.Next() {
		var e EnergyInterval
		var start, length int64
		if err := site.Scan(&start, &length, &e.ImportKWh, &e.MiningKWh, &e.AIKWh, &e.BudgetKWh); err != nil {
			site.Close()
			return p, err
		}
		e.Start, e.Length = fromNanos(start), time.Duration(length)
		p.Site = append(p.Site, e)
	}
	site.Close()
	if err := site.Err(); err != nil {
		return p, err
	}
	groups, err := s.query(ctx, `SELECT `+groupEnergyCols+` FROM energy_group WHERE start > ? AND start <= ?
		ORDER BY start, grp`, lo, last)
	if err != nil {
		return p, err
	}
	defer groups.Close()
	for groups.Next() {
		g, err := scanGroupEnergy(groups)
		if err != nil {
			return p, err
		}
		p.Groups = append(p.Groups, g)
	}
	p.Next = fromNanos(last)
	return p, groups.Err()
}

// RollupRow is one row of the per-worker share rollup: a minute, or an hour for minutes
// older than minute_rollup_retention.
type RollupRow struct {
	Start   time.Time
	Period  time.Duration // time.Minute or time.Hour
	Worker  string
	Pool    string
	Result  Result
	Reason  string
	Count   int64
	DiffSum float64 // sum of the shares' assigned difficulty
}

// RollupCursor resumes RollupAfter; the zero value starts at the beginning.
type RollupCursor struct {
	minutes bool // past the hours
	bucket  int64
	worker  string
	pool    string
	result  Result
	reason  string
	started bool
}

// RollupAfter returns up to limit per-worker rollup rows whose period starts in [from, to),
// the hour rows first, then the minute rows (minutes are folded into hours as they age, so
// the two never cover the same time), each by time, worker, pool, result and reason. A
// non-empty worker keeps that worker alone. The returned cursor resumes after the page.
func (s *Store) RollupAfter(ctx context.Context, from, to time.Time, worker string, c RollupCursor, limit int) ([]RollupRow, RollupCursor, error) {
	limit = pageLimit(limit)
	var out []RollupRow
	for {
		table, col, period := "share_rollup_hour", "hour", time.Hour
		if c.minutes {
			table, col, period = "share_rollup", "minute", time.Minute
		}
		q := `SELECT ` + col + `, worker, pool, result, reason, n, diff_sum FROM ` + table +
			` WHERE ` + col + ` >= ? AND ` + col + ` < ?`
		f := from.Unix()
		if !c.minutes {
			f -= mod(f, 3600) // an hour that began before from overlaps it
		}
		args := []any{f, to.Unix()}
		if c.started {
			q += ` AND (` + col + `, worker, pool, result, reason) > (?, ?, ?, ?, ?)`
			args = append(args, c.bucket, c.worker, c.pool, c.result, c.reason)
		}
		if worker != "" {
			q += ` AND worker = ?`
			args = append(args, worker)
		}
		q += ` ORDER BY ` + col + `, worker, pool, result, reason LIMIT ?`
		rows, err := s.query(ctx, q, append(args, limit-len(out))...)
		if err != nil {
			return nil, c, err
		}
		for rows.Next() {
			var r RollupRow
			var b int64
			if err := rows.Scan(&b, &r.Worker, &r.Pool, &r.Result, &r.Reason, &r.Count, &r.DiffSum); err != nil {
				rows.Close()
				return nil, c, err
			}
			r.Start, r.Period = time.Unix(b, 0).UTC(), period
			out = append(out, r)
			c.bucket, c.worker, c.pool, c.result, c.reason, c.started = b, r.Worker, r.Pool, r.Result, r.Reason, true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, c, err
		}
		if len(out) >= limit || c.minutes {
			return out, c, nil
		}
		c = RollupCursor{minutes: true}
	}
}

// pageLimit applies DefaultPageLimit and MaxPageLimit to an export page size.
func pageLimit(n int) int {
	if n <= 0 {
		return DefaultPageLimit
	}
	return min(n, MaxPageLimit)
}
