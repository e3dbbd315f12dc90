package store

import (
	"context"
	"fmt"
	"time"
)

// pruneChunk is the most rows one prune transaction deletes, so the share
// writer never waits long for the lock.
const pruneChunk = 5000

// PruneResult counts the rows one Prune deleted, by table.
type PruneResult struct {
	Shares, Rollup, Decisions, Events, Energy int64
}

// Total is the number of rows deleted.
func (r PruneResult) Total() int64 {
	return r.Shares + r.Rollup + r.Decisions + r.Events + r.Energy
}

// Prune deletes ledger rows older than ShareRetention and other records
// older than Retention, measured from the store's clock. A miner's last
// state is never pruned; it loses only the link to its decision.
func (s *Store) Prune(ctx context.Context) (PruneResult, error) {
	var r PruneResult
	s.senders.RLock() // Close waits for a prune in progress
	defer s.senders.RUnlock()
	if s.isClosed() {
		return r, ErrClosed
	}
	now := s.clock.Now()
	cutoff := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	type job struct {
		table, col string
		before     int64
		n          *int64
	}
	var jobs []job
	if d := s.cfg.ShareRetention; d > 0 {
		jobs = append(jobs, job{"shares", "ts", cutoff(d), &r.Shares})
	}
	if d := s.cfg.Retention; d > 0 {
		jobs = append(jobs,
			job{"share_rollup", "minute", now.Add(-d).Unix(), &r.Rollup},
			job{"decisions", "ts", cutoff(d), &r.Decisions},
			job{"events", "ts", cutoff(d), &r.Events},
			job{"energy", "start", cutoff(d), &r.Energy},
		)
	}
	for _, j := range jobs {
		// Rowid tables delete by rowid; the rollup has none, so it deletes
		// by its leading key column, which its primary key indexes.
		q := fmt.Sprintf(`DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %[1]s WHERE %s < ? LIMIT %d)`,
			j.table, j.col, pruneChunk)
		if j.table == "share_rollup" {
			q = fmt.Sprintf(`DELETE FROM share_rollup WHERE minute IN
				(SELECT DISTINCT minute FROM share_rollup WHERE minute < ? ORDER BY minute LIMIT %d)`, pruneChunk/100)
		}
		for {
			n, err := s.pruneOnce(ctx, q, j.before)
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
	s.stats.prunes.Add(1)
	if r.Total() > 0 {
		s.log.Info().Int64("shares", r.Shares).Int64("rollup", r.Rollup).Int64("decisions", r.Decisions).
			Int64("events", r.Events).Int64("energy", r.Energy).Msg("pruned")
	}
	return r, nil
}

// pruneOnce runs one chunked delete in its own transaction on the ledger
// writer (no fsync per chunk; a pruned row that reappears after a power cut
// is pruned again).
func (s *Store) pruneOnce(ctx context.Context, q string, before int64) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.ledger.ExecContext(ctx, q, before)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// runPruner runs Prune every PruneInterval on the store's clock until Close.
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
	for {
		select {
		case <-s.clock.After(s.cfg.PruneInterval):
		case <-s.closing:
			return
		}
		if _, err := s.Prune(ctx); err != nil && !s.isClosed() {
			s.log.Warn().Err(err).Msg("prune failed")
		}
	}
}
