package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// pruneChunk is the most rows one prune transaction deletes, so the share
// writer never waits long for the lock.
const pruneChunk = 5000

// PruneResult counts the rows one Prune deleted, by table.
type PruneResult struct {
	Shares, Rollup, Decisions, Events, Energy int64
	// SharesOverCap counts raw share rows deleted by Config.ShareMaxRows
	// since the previous Prune: by this one and by the trims the writer
	// asked for in between.
	SharesOverCap int64
	// MinutesFolded counts per-minute rollup rows folded into per-hour
	// rows (Config.MinuteRollupRetention); their counts are kept, so they
	// are not in Total.
	MinutesFolded int64
}

// Total is the number of rows deleted.
func (r PruneResult) Total() int64 {
	return r.Shares + r.Rollup + r.Decisions + r.Events + r.Energy + r.SharesOverCap
}

// capExempt lists, for SQL, the results whose raw rows the cap never deletes.
var capExempt = func() string {
	var codes []string
	for r := ResultAcceptedLocal; r.Valid(); r++ {
		if r.keptPastCap() {
			codes = append(codes, strconv.Itoa(int(r)))
		}
	}
	return strings.Join(codes, ", ")
}()

// trimEvery is how many rows the writer commits between two cap trims: the
// cap's overshoot, a small fraction of it, traded against the fixed cost of
// a trim.
func trimEvery(maxRows int64) int64 { return max(maxRows/32, 1) }

// Prune deletes ledger rows older than ShareRetention and other records
// older than Retention, measured from the store's clock, then raw ledger
// rows beyond ShareMaxRows. A miner's last state is never pruned; it loses
// only the link to its decision.
func (s *Store) Prune(ctx context.Context) (PruneResult, error) {
	var r PruneResult
	s.senders.RLock() // Close waits for a prune in progress
	defer s.senders.RUnlock()
	if s.isClosed() {
		return r, ErrClosed
	}
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	now := s.clock.Now()
	cutoff := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	type job struct {
		table, col string
		before     int64
		n          *int64
	}
	if d := s.cfg.MinuteRollupRetention; d > 0 {
		n, err := s.foldMinutes(ctx, now.Add(-d).Unix())
		r.MinutesFolded = n
		if err != nil {
			return r, fmt.Errorf("store: fold rollup minutes: %w", err)
		}
	}
	var jobs []job
	if d := s.cfg.ShareRetention; d > 0 {
		jobs = append(jobs, job{"shares", "ts", cutoff(d), &r.Shares})
	}
	if d := s.cfg.Retention; d > 0 {
		jobs = append(jobs,
			job{"share_rollup", "minute", now.Add(-d).Unix(), &r.Rollup},
			job{"share_rollup_hour", "hour", now.Add(-d).Unix(), &r.Rollup},
			job{"decisions", "ts", cutoff(d), &r.Decisions},
			job{"events", "ts", cutoff(d), &r.Events},
			job{"energy", "start", cutoff(d), &r.Energy},
		)
	}
	for _, j := range jobs {
		// Rowid tables delete by rowid; the rollups have none, so they
		// delete by their leading key column, which their primary key
		// indexes.
		q := fmt.Sprintf(`DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %[1]s WHERE %s < ? LIMIT %d)`,
			j.table, j.col, pruneChunk)
		if strings.HasPrefix(j.table, "share_rollup") {
			q = fmt.Sprintf(`DELETE FROM %s WHERE %s IN
				(SELECT DISTINCT %[2]s FROM %[1]s WHERE %[2]s < ? ORDER BY %[2]s LIMIT %d)`, j.table, j.col, pruneChunk/100)
		}
		for {
			n, err := s.pruneOnce(ctx, q, j.before, j.table == "shares")
			*j.n += n
			s.stats.pruned.Add(uint64(n))
			if err != nil {
				return r, fmt.Errorf("store: prune %s: %w", j.table, err)
			}
			if n == 0 {
				break
			}
		}
	}
	_, err := s.trimShares(ctx)
	r.SharesOverCap, s.overCap = s.overCap, 0
	if err != nil {
		return r, err
	}
	s.stats.prunes.Add(1)
	if r.Total() > 0 || r.MinutesFolded > 0 {
		s.log.Info().Int64("shares", r.Shares).Int64("shares_over_cap", r.SharesOverCap).Int64("rollup", r.Rollup).
			Int64("rollup_minutes_folded", r.MinutesFolded).Int64("decisions", r.Decisions).Int64("events", r.Events).
			Int64("energy", r.Energy).Msg("pruned")
	}
	return r, nil
}

// foldMinutes folds per-minute rollup rows of minutes before the given Unix
// second into per-hour rows, oldest minute first, one minute per
// transaction: a transaction holds as many rows as workers that minute.
// A late share event for a folded minute makes a minute row again, folded
// at the next Prune. Caller holds pruneMu.
func (s *Store) foldMinutes(ctx context.Context, before int64) (int64, error) {
	var total int64
	for {
		n, err := s.foldMinute(ctx, before)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// foldMinute folds the oldest minute, if it is before the given Unix second,
// and returns how many minute rows it folded.
func (s *Store) foldMinute(ctx context.Context, before int64) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.ledger.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var m sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(minute) FROM share_rollup`).Scan(&m); err != nil {
		return 0, err
	}
	if !m.Valid || m.Int64 >= before {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO share_rollup_hour (hour, worker, pool, result, reason, n, diff_sum, sats_sum)
		SELECT ?, worker, pool, result, reason, n, diff_sum, sats_sum FROM share_rollup WHERE minute = ?
		ON CONFLICT (hour, worker, pool, result, reason)
		DO UPDATE SET n = n + excluded.n, diff_sum = diff_sum + excluded.diff_sum, sats_sum = sats_sum + excluded.sats_sum`,
		m.Int64-mod(m.Int64, 3600), m.Int64); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM share_rollup WHERE minute = ?`, m.Int64)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// pruneOnce runs one chunked delete in its own transaction on the ledger
// writer (no fsync per chunk; a pruned row that reappears after a power cut
// is pruned again). Caller holds pruneMu.
func (s *Store) pruneOnce(ctx context.Context, q string, before int64, shares bool) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.ledger.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, before)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if shares && n > 0 {
		// SQLite gives a new row the highest rowid plus one, so deleting
		// the newest rows hands their rowids out again, below trimmedTo.
		// Read inside the delete's transaction, before the writer can
		// insert.
		var top int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM shares`).Scan(&top); err != nil {
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		s.trimmedTo = min(s.trimmedTo, top)
		return n, nil
	}
	return n, tx.Commit()
}

// trim runs a cap trim the writer asked for.
func (s *Store) trim(ctx context.Context) error {
	s.senders.RLock()
	defer s.senders.RUnlock()
	if s.isClosed() {
		return ErrClosed
	}
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	_, err := s.trimShares(ctx)
	return err
}

// trimShares deletes raw ledger rows beyond ShareMaxRows, oldest first,
// sparing the exempt results, in transactions of at most pruneChunk rows
// looked at. Rowids follow commit order, so the rows to keep are the
// ShareMaxRows highest. Caller holds pruneMu.
func (s *Store) trimShares(ctx context.Context) (int64, error) {
	if s.cfg.ShareMaxRows <= 0 {
		return 0, nil
	}
	var top int64
	if err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM shares`).Scan(&top); err != nil {
		return 0, fmt.Errorf("store: share cap: %w", err)
	}
	cut := top - s.cfg.ShareMaxRows
	var total int64
	for s.trimmedTo < cut {
		n, hi, err := s.trimChunk(ctx, s.trimmedTo, cut)
		total += n
		s.overCap += n
		s.stats.pruned.Add(uint64(n))
		if err != nil {
			return total, fmt.Errorf("store: share cap: %w", err)
		}
		s.trimmedTo = hi
	}
	return total, nil
}

// trimChunk deletes the rows the cap may delete among the first pruneChunk
// rows above rowid lo and at most cut, and returns how many it deleted and
// the rowid it got to.
func (s *Store) trimChunk(ctx context.Context, lo, cut int64) (n, hi int64, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.ledger.BeginTx(ctx, nil)
	if err != nil {
		return 0, lo, err
	}
	defer tx.Rollback()
	var seen int64
	var last *int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MAX(rowid) FROM
		(SELECT rowid FROM shares WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?)`,
		lo, cut, pruneChunk).Scan(&seen, &last); err != nil {
		return 0, lo, err
	}
	hi = cut
	if seen == pruneChunk && last != nil {
		hi = *last
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE rowid > ? AND rowid <= ? AND result NOT IN (`+capExempt+`)`, lo, hi)
	if err != nil {
		return 0, lo, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, lo, err
	}
	if err := tx.Commit(); err != nil {
		return 0, lo, err
	}
	return n, hi, nil
}

// requestTrim asks the pruner for a cap trim without waiting.
func (s *Store) requestTrim() {
	select {
	case s.trimReq <- struct{}{}:
	default: // one is pending; it will see these rows too
	}
}

// runPruner runs Prune every PruneInterval on the store's clock, and a cap
// trim whenever the writer asks, until Close.
func (s *Store) runPruner() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	var tick <-chan time.Time
	for {
		if tick == nil && s.cfg.PruneInterval > 0 {
			tick = s.clock.After(s.cfg.PruneInterval)
		}
		select {
		case <-tick:
			tick = nil
			if _, err := s.Prune(ctx); err != nil && !s.isClosed() {
				s.log.Warn().Err(err).Msg("prune failed")
			}
		case <-s.trimReq:
			if err := s.trim(ctx); err != nil && !s.isClosed() {
				s.log.Warn().Err(err).Msg("share cap trim failed")
			}
		case <-s.closing:
			return
		}
	}
}
