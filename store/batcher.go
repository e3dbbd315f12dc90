package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Retry backoff for share batches whose commit failed (disk full, another
// process holding the lock past busy_timeout). Lossless events are retried;
// meanwhile their queue fills and callers feel the backpressure.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// shareCols is the number of columns bound per ledger row, and multiRows
// the rows one multi-row INSERT carries: per-statement overhead in the
// driver costs as much as SQLite's own work for a row.
const (
	shareCols = 9
	multiRows = 32
)

type writerStmts struct {
	insertShare  *sql.Stmt // one row
	insertShares *sql.Stmt // multiRows rows
	upsertRollup *sql.Stmt
}

func (w *writerStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.insertShare, w.insertShares, w.upsertRollup} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

func insertSharesSQL(rows int) string {
	q := `INSERT INTO shares (ts, worker, pool, job, difficulty, share_diff, result, reason, hash) VALUES `
	q += "(?, ?, ?, ?, ?, ?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows-1)
	return q
}

func (s *Store) prepareWriter(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.stmts.insertShare, insertSharesSQL(1)},
		{&s.stmts.insertShares, insertSharesSQL(multiRows)},
		{&s.stmts.upsertRollup, `INSERT INTO share_rollup
			(minute, worker, pool, result, reason, n, diff_sum) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (minute, worker, pool, result, reason)
			DO UPDATE SET n = n + excluded.n, diff_sum = diff_sum + excluded.diff_sum`},
	} {
		st, err := s.ledger.PrepareContext(ctx, p.sql)
		if err != nil {
			s.stmts.close()
			return fmt.Errorf("store: prepare: %w", err)
		}
		*p.dst = st
	}
	return nil
}

// writer is the state of the single goroutine that commits share events.
type writer struct {
	s       *Store
	batch   []ShareEvent
	waiters []chan error
	// carry holds rollup counts taken from the overflow table, or kept
	// from a failed commit, not yet committed.
	carry map[rollupKey]rollupVal
	retry time.Duration
	args  []any // reused bind arguments
}

func (s *Store) runWriter() {
	defer s.wg.Done()
	w := &writer{
		s:     s,
		batch: make([]ShareEvent, 0, s.cfg.MaxBatch),
		args:  make([]any, 0, shareCols*multiRows),
	}
	for {
		// A batch kept from a failed commit is retried without waiting
		// for new events.
		if len(w.batch) == 0 && len(w.carry) == 0 {
			select {
			case e := <-s.lossless:
				w.batch = append(w.batch, e)
			case e := <-s.lossy:
				w.batch = append(w.batch, e)
			case r := <-s.flushReq:
				w.waiters = append(w.waiters, r)
			case <-s.stopped:
				w.final()
				return
			}
		}
		stop := false
		if len(w.waiters) == 0 {
			stop = w.collect()
		}
		if stop {
			w.final()
			return
		}
		if len(w.waiters) > 0 {
			w.drainQueued()
		}
		if err := w.commit(); err != nil && w.backoff() {
			w.final()
			return
		}
	}
}

// collect adds events to the batch until it is full, FlushInterval has
// passed, a flush is requested or the store stops (reported as true).
func (w *writer) collect() (stop bool) {
	s := w.s
	var timer <-chan time.Time
	if s.cfg.FlushInterval > 0 {
		timer = s.clock.After(s.cfg.FlushInterval)
	}
	for len(w.batch) < s.cfg.MaxBatch {
		// Pool verdicts first: they are never shed, so they must not
		// wait behind a flood of local shares.
		select {
		case e := <-s.lossless:
			w.batch = append(w.batch, e)
			continue
		default:
		}
		if timer == nil {
			select {
			case e := <-s.lossy:
				w.batch = append(w.batch, e)
			case r := <-s.flushReq:
				w.waiters = append(w.waiters, r)
				return false
			case <-s.stopped:
				return true
			default:
				return false
			}
			continue
		}
		select {
		case e := <-s.lossless:
			w.batch = append(w.batch, e)
		case e := <-s.lossy:
			w.batch = append(w.batch, e)
		case r := <-s.flushReq:
			w.waiters = append(w.waiters, r)
			return false
		case <-timer:
			return false
		case <-s.stopped:
			return true
		}
	}
	return false
}

// drainQueued takes every event already queued. Events enqueued before a
// Flush call are in the queues when its request is received, and the queues
// are FIFO, so the first len(queue) events include all of them.
func (w *writer) drainQueued() {
	for _, q := range []chan ShareEvent{w.s.lossless, w.s.lossy} {
		for n := len(q); n > 0; n-- {
			w.batch = append(w.batch, <-q)
		}
	}
}

// final drains everything left and commits it; no sender can enqueue any
// more once the writer is told to stop.
func (w *writer) final() {
	w.drainQueued()
	if err := w.commit(); err != nil {
		lost := len(w.batch)
		w.s.stats.lost.Add(uint64(lost))
		w.s.log.Error().Err(err).Int("events", lost).Msg("share events lost at close")
	}
	w.reply(ErrClosed)
}

// commit writes the batch in transactions of at most MaxBatch events. On
// failure the lossless events (and rollup counts) not yet committed are kept
// for the next attempt and the lossy ones are dropped and counted.
func (w *writer) commit() error {
	s := w.s
	if taken := s.overflow.take(); len(taken) > 0 {
		if w.carry == nil {
			w.carry = taken
		} else {
			mergeRollup(w.carry, taken)
		}
	}
	for len(w.batch) > 0 || len(w.carry) > 0 {
		n := min(len(w.batch), s.cfg.MaxBatch)
		if err := w.commitChunk(w.batch[:n]); err != nil {
			s.stats.writeErrors.Add(1)
			s.log.Warn().Err(err).Int("events", len(w.batch)).Msg("share batch commit failed")
			kept := w.batch[:0]
			for _, e := range w.batch {
				if e.Result.Lossless() {
					kept = append(kept, e)
				} else {
					s.stats.lost.Add(1)
				}
			}
			clear(w.batch[len(kept):])
			w.batch = kept
			w.reply(err)
			return err
		}
		s.stats.committed.Add(uint64(n))
		s.stats.batches.Add(1)
		if s.hooks.afterCommit != nil {
			s.hooks.afterCommit(n)
		}
		w.batch = append(w.batch[:0], w.batch[n:]...)
		w.carry = nil
	}
	w.retry = 0
	w.reply(nil)
	return nil
}

// commitChunk writes events and their rollup, plus any carried rollup
// counts, in one transaction.
func (w *writer) commitChunk(events []ShareEvent) error {
	s := w.s
	roll := w.carry
	if roll == nil {
		roll = make(map[rollupKey]rollupVal)
	} else {
		// Keep carry intact in case this transaction fails.
		roll = make(map[rollupKey]rollupVal, len(w.carry))
		mergeRollup(roll, w.carry)
	}
	for i := range events {
		k := keyOf(&events[i])
		v := roll[k]
		v.n++
		v.diffSum += events[i].Difficulty
		roll[k] = v
	}
	ctx := context.Background()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.ledger.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	many := tx.StmtContext(ctx, s.stmts.insertShares)
	one := tx.StmtContext(ctx, s.stmts.insertShare)
	for len(events) > 0 {
		st, n := many, multiRows
		if len(events) < multiRows {
			st, n = one, 1
		}
		w.args = w.args[:0]
		for i := range events[:n] {
			e := &events[i]
			w.args = append(w.args, e.Time.UnixNano(), e.Worker, e.Pool, e.Job,
				e.Difficulty, e.ShareDifficulty, int64(e.Result), e.Reason, e.Hash)
		}
		if _, err := st.ExecContext(ctx, w.args...); err != nil {
			return err
		}
		events = events[n:]
	}
	up := tx.StmtContext(ctx, s.stmts.upsertRollup)
	for k, v := range roll {
		if _, err := up.ExecContext(ctx, k.minute, k.worker, k.pool, int64(k.result), k.reason,
			v.n, v.diffSum); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// backoff waits before retrying a failed commit and reports whether the
// store stopped meanwhile.
func (w *writer) backoff() (stop bool) {
	w.retry = min(max(2*w.retry, minRetry), maxRetry)
	select {
	case <-w.s.clock.After(w.retry):
		return false
	case <-w.s.stopped:
		return true
	}
}

func (w *writer) reply(err error) {
	for _, r := range w.waiters {
		r <- err
	}
	w.waiters = w.waiters[:0]
}

func mergeRollup(dst, src map[rollupKey]rollupVal) {
	for k, v := range src {
		d := dst[k]
		d.n += v.n
		d.diffSum += v.diffSum
		dst[k] = d
	}
}
