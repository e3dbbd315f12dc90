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

// upsertRollupSQL adds a commit's counts to share_rollup. A variable so the migration tests
// can run a build of an older schema with that build's statement.
var upsertRollupSQL = `INSERT INTO share_rollup
	(minute, worker, pool, result, reason, n, diff_sum, sats_sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (minute, worker, pool, result, reason)
	DO UPDATE SET n = n + excluded.n, diff_sum = diff_sum + excluded.diff_sum, sats_sum = sats_sum + excluded.sats_sum`

func (s *Store) prepareWriter(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.stmts.insertShare, insertSharesSQL(1)},
		{&s.stmts.insertShares, insertSharesSQL(multiRows)},
		{&s.stmts.upsertRollup, upsertRollupSQL},
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
	// ep is the write-failure episode in progress; its zero value means
	// the last commit succeeded.
	ep episode
	// sinceTrim counts rows committed since the writer last asked for a
	// cap trim.
	sinceTrim int64
}

// episode is a run of failed commits, from the first failure to the next
// success: it is logged once when it begins and once when it ends.
type episode struct {
	failures   uint64
	shed, lost uint64 // the store's counters when it began
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
		// While commits fail, the batch kept for retry takes no more
		// events: the queues hold them, and when they are full, local
		// shares are shed and pool verdicts are lost at once (counted), so the
		// proxy's readers never wait on a disk that will not take them.
		drained := false
		if w.ep.failures == 0 {
			if len(w.waiters) == 0 && w.collect() {
				w.final()
				return
			}
			if len(w.waiters) > 0 {
				w.drainQueued()
				drained = true
			}
		}
		err := w.commit()
		if err == nil && len(w.waiters) > 0 && !drained {
			// A flush asked for while retrying covers what is queued too.
			w.drainQueued()
			err = w.commit()
		}
		w.reply(err)
		if err != nil && w.backoff() {
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
// failure every event not yet committed, and the rollup counts carried, are
// kept for the next attempt: a share is an audit record, and the error is
// usually transient (disk full, another process holding the lock).
func (w *writer) commit() error {
	s := w.s
	// While failing, shed counts stay in the overflow table, which bounds
	// them by key; the carry takes them once a commit succeeds.
	if w.ep.failures == 0 {
		if taken := s.overflow.take(); len(taken) > 0 {
			if w.carry == nil {
				w.carry = taken
			} else {
				mergeRollup(w.carry, taken)
			}
		}
	}
	for len(w.batch) > 0 || len(w.carry) > 0 {
		n := min(len(w.batch), s.cfg.MaxBatch)
		if err := w.commitChunk(w.batch[:n]); err != nil {
			s.stats.writeErrors.Add(1)
			w.failed(err)
			return err
		}
		s.stats.committed.Add(uint64(n))
		s.stats.batches.Add(1)
		if s.hooks.afterCommit != nil {
			s.hooks.afterCommit(n)
		}
		w.batch = append(w.batch[:0], w.batch[n:]...)
		w.carry = nil
		w.recovered()
		if s.cfg.ShareMaxRows > 0 {
			if w.sinceTrim += int64(n); w.sinceTrim >= trimEvery(s.cfg.ShareMaxRows) {
				w.sinceTrim = 0
				s.requestTrim()
			}
		}
	}
	w.retry = 0
	return nil
}

// failed records a failed commit: the first of an episode is logged at
// error with its cause, the rest only counted.
func (w *writer) failed(err error) {
	s := w.s
	if w.ep.failures == 0 {
		w.ep = episode{shed: s.stats.shed.Load(), lost: s.stats.lost.Load()}
		s.log.Error().Err(err).Int("events_kept", len(w.batch)).
			Msg("store writes failing: share events kept and retried; further failures are not logged until writes recover")
	} else {
		s.log.Debug().Err(err).Uint64("failures", w.ep.failures+1).Msg("share batch commit failed again")
	}
	w.ep.failures++
	s.setWriteState(w.ep.failures, err)
}

// recovered ends a failure episode after a successful commit, saying how
// many share events the ledger missed meanwhile: rows shed (still counted in
// the rollup) and events lost entirely.
func (w *writer) recovered() {
	if w.ep.failures == 0 {
		return
	}
	s := w.s
	shed, lost := s.stats.shed.Load()-w.ep.shed, s.stats.lost.Load()-w.ep.lost
	s.log.Warn().Uint64("failures", w.ep.failures).Uint64("rows_shed", shed).Uint64("lost", lost).
		Msg(fmt.Sprintf("store writes recovered after %d failures, %d shares lost", w.ep.failures, shed+lost))
	w.ep = episode{}
	s.setWriteState(0, nil)
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
		v.sats += events[i].ExpectedSats
		roll[k] = v
	}
	ctx := context.Background()
	if s.hooks.beforeLock != nil {
		s.hooks.beforeLock()
	}
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
			v.n, v.diffSum, v.sats); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// backoff waits before retrying a failed commit and reports whether the
// store stopped meanwhile. A flush request cuts the wait short: its caller
// learns at once whether the retry went through.
func (w *writer) backoff() (stop bool) {
	w.retry = min(max(2*w.retry, minRetry), maxRetry)
	select {
	case <-w.s.clock.After(w.retry):
		return false
	case r := <-w.s.flushReq:
		w.waiters = append(w.waiters, r)
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
		d.sats += v.sats
		dst[k] = d
	}
}
