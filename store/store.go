package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Sentinel errors.
var (
	// ErrClosed is returned by calls made after Close began.
	ErrClosed = errors.New("store: closed")
	// ErrSchemaTooNew means the database was written by a newer hashgate.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this build")
	// ErrShareShed means a lossy share event's ledger row was dropped
	// because the queue was full; it still counts in the rollup unless
	// Stats.SharesLost grew too. Callers on the hot path may ignore it.
	ErrShareShed = errors.New("store: share queue full, ledger row shed")
	// ErrShareLost is returned for a lossless share event refused at once
	// because writes are failing and its queue is full; it counts in
	// Stats.SharesLost and in the recovery line of the failure episode.
	ErrShareLost = errors.New("store: writes failing and share queue full, event lost")
	// ErrInvalidRecord wraps a record that cannot be stored as given.
	ErrInvalidRecord = errors.New("store: invalid record")
)

// Store is an open hashgate database. Its methods are safe for concurrent use.
type Store struct {
	cfg   Config
	log   zerolog.Logger
	clock Clock

	ledger *sql.DB // one connection, synchronous=NORMAL; batcher and prune
	audit  *sql.DB // one connection, synchronous=FULL; durable records
	read   *sql.DB // query_only connections

	// writeMu serialises the two writers so that neither sleeps in
	// SQLite's busy handler waiting for the other.
	writeMu sync.Mutex

	// senders guards enqueueing against Close: senders hold it for
	// reading; Close takes it for writing once closing is signalled.
	senders  sync.RWMutex
	closed   bool
	closing  chan struct{} // closed when Close begins
	stopped  chan struct{} // tells the writer to drain and exit
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once

	lossy    chan ShareEvent
	lossless chan ShareEvent
	flushReq chan chan error
	stmts    writerStmts
	hooks    hooks

	overflow overflowTable

	// pruneMu serialises Prune and the cap's trims, which own trimmedTo
	// and overCap.
	pruneMu sync.Mutex
	// trimmedTo is a shares rowid at or below which every row the cap may
	// delete is gone, so a trim need not look at the exempt rows below it
	// again.
	trimmedTo int64
	// overCap counts rows the cap deleted since the last Prune reported.
	overCap int64
	// trimReq asks the pruner for a cap trim. Capacity one: a request
	// already pending covers the next (coalesced, never blocks the writer).
	trimReq chan struct{}

	stats counters

	wsMu    sync.Mutex
	wstate  WriteState
	failing atomic.Bool // wstate.Err != nil, read without the lock

	// lossLogAt is when share events dropped outside a write-failure
	// episode may next be logged (Unix nanoseconds on the store's clock).
	lossLogAt atomic.Int64
}

type counters struct {
	enqueued, committed, batches, shed, lost atomic.Uint64
	writeErrors, pruned, prunes              atomic.Uint64
}

// Stats is a snapshot of the store's counters since Open.
type Stats struct {
	SharesEnqueued  uint64 // share events accepted onto a queue
	SharesCommitted uint64 // share ledger rows committed
	Batches         uint64 // share transactions committed
	SharesShed      uint64 // lossy events whose ledger row was dropped (still in the rollup)
	// SharesLost counts events in neither ledger nor rollup: lossy events
	// shed with the overflow table full, pool verdicts whose caller gave
	// up waiting for room, and events a failing store could not commit at
	// Close.
	SharesLost     uint64
	WriteErrors    uint64 // share commits that failed (each is retried)
	LossyQueued    int    // current depth of the lossy queue
	LosslessQueued int    // current depth of the lossless queue
	Prunes         uint64 // completed Prune runs
	RowsPruned     uint64 // rows deleted by Prune and by the share cap's trims
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	return Stats{
		SharesEnqueued:  s.stats.enqueued.Load(),
		SharesCommitted: s.stats.committed.Load(),
		Batches:         s.stats.batches.Load(),
		SharesShed:      s.stats.shed.Load(),
		SharesLost:      s.stats.lost.Load(),
		WriteErrors:     s.stats.writeErrors.Load(),
		LossyQueued:     len(s.lossy),
		LosslessQueued:  len(s.lossless),
		Prunes:          s.stats.prunes.Load(),
		RowsPruned:      s.stats.pruned.Load(),
	}
}

// WriteState is the share writer's health. A failed commit starts an
// episode that lasts until a commit succeeds; the events are kept and
// retried meanwhile.
type WriteState struct {
	// Err is the latest commit error of the episode; nil when the last
	// commit succeeded.
	Err error
	// Failures counts the failed commits of the episode.
	Failures uint64
	// Since is when the episode began, on the store's clock.
	Since time.Time
}

// WriteState returns the share writer's health, for readiness checks and
// the console.
func (s *Store) WriteState() WriteState {
	s.wsMu.Lock()
	defer s.wsMu.Unlock()
	return s.wstate
}

// setWriteState is called by the writer after each failed commit and at the
// first success after them.
func (s *Store) setWriteState(failures uint64, err error) {
	s.wsMu.Lock()
	defer s.wsMu.Unlock()
	s.failing.Store(err != nil)
	switch {
	case err == nil:
		s.wstate = WriteState{}
	case s.wstate.Err == nil:
		s.wstate = WriteState{Err: err, Failures: failures, Since: s.clock.Now()}
	default:
		s.wstate.Err, s.wstate.Failures = err, failures
	}
}

// lossLogEvery spaces the log lines about share events dropped while
// writes succeed (the store is not keeping up): the counters say how many,
// the log that it happens.
const lossLogEvery = time.Minute

// noteDropped logs, at most once per lossLogEvery, that share events were
// shed or lost. A write-failure episode has its own log lines.
func (s *Store) noteDropped() {
	now := s.clock.Now().UnixNano()
	next := s.lossLogAt.Load()
	if now < next || s.failing.Load() || !s.lossLogAt.CompareAndSwap(next, now+int64(lossLogEvery)) {
		return
	}
	shed, lost := s.stats.shed.Load(), s.stats.lost.Load()
	ev := s.log.Warn()
	if lost > 0 {
		ev = s.log.Error()
	}
	ev.Uint64("rows_shed_total", shed).Uint64("lost_total", lost).
		Msg("share events dropped: the store is not keeping up (logged at most once a minute)")
}

// Open opens (creating if needed) the database at cfg.Path, applies pending
// migrations and starts the share writer and, if configured, the pruner.
func Open(ctx context.Context, cfg Config, log zerolog.Logger) (*Store, error) {
	return open(ctx, cfg, log, hooks{})
}

// hooks let tests observe the writer without polling.
type hooks struct {
	afterCommit func(events int) // called by the writer after each committed batch
	// beforeLock is called by the writer before a commit waits for the write
	// lock, once it has taken the overflow table.
	beforeLock func()
}

func open(ctx context.Context, cfg Config, log zerolog.Logger, h hooks) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:      cfg,
		log:      log.With().Str("component", "store").Logger(),
		clock:    cfg.Clock,
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		lossy:    make(chan ShareEvent, cfg.QueueSize),
		lossless: make(chan ShareEvent, cfg.QueueSize),
		flushReq: make(chan chan error),
		trimReq:  make(chan struct{}, 1),
		overflow: overflowTable{max: cfg.OverflowKeys},
		hooks:    h,
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	var err error
	// The audit writer opens first: it sets WAL mode and migrates.
	if s.audit, err = openDB(cfg, "FULL", false, 1); err != nil {
		return nil, err
	}
	if err = migrate(ctx, s.audit, s.log); err != nil {
		s.audit.Close()
		return nil, err
	}
	if s.ledger, err = openDB(cfg, "NORMAL", false, 1); err != nil {
		s.audit.Close()
		return nil, err
	}
	if s.read, err = openDB(cfg, "NORMAL", true, cfg.ReadConns); err != nil {
		s.audit.Close()
		s.ledger.Close()
		return nil, err
	}
	if err = s.prepareWriter(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.wg.Add(1)
	go s.runWriter()
	if cfg.PruneInterval > 0 || cfg.ShareMaxRows > 0 {
		if cfg.ShareMaxRows > 0 {
			// A ledger left over the cap (by a lower share_max_rows, or
			// a build without one) is trimmed at once.
			s.requestTrim()
		}
		s.wg.Add(1)
		go s.runPruner()
	}
	s.log.Info().Str("path", cfg.Path).Msg("store opened")
	return s, nil
}

// walSizeLimit is the size the WAL file is cut back to when a checkpoint
// lets it restart.
const walSizeLimit = 8 << 20

// openDB opens a pool of connections with the pragmas every hashgate
// connection needs. Pragmas go in the DSN so that each new connection the
// pool makes gets them.
func openDB(cfg Config, synchronous string, readOnly bool, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// A reader holding a snapshot (a backup, a long query) stops
		// checkpoints from recycling the WAL, which then grows with every
		// commit and would keep that size for good: cut it back when it
		// is next reset. Above the ~4 MB the default autocheckpoint lets
		// it reach, so steady state never truncates.
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
		// Writers take the lock at BEGIN, so a transaction never fails
		// half-way when upgrading from a read lock.
		q.Set("_txlock", "immediate")
	}
	dsn := "file:" + (&url.URL{Path: cfg.Path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	return db, nil
}

// Close stops accepting records, commits every share event already queued,
// stops the background goroutines and closes the database. It is safe to
// call more than once; later calls return the first call's result.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closing) // wake senders blocked on a full lossless queue
		s.senders.Lock() // wait for in-flight senders to finish
		s.closed = true  // no new senders from here on
		s.senders.Unlock()
		close(s.stopped) // the writer drains and exits
		s.wg.Wait()
		s.closeErr = s.closeDBs()
		s.log.Info().Msg("store closed")
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.stmts.insertShare != nil {
		errs = append(errs, s.stmts.close())
	}
	for _, db := range []*sql.DB{s.read, s.ledger, s.audit} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// isClosed reports whether Close has begun.
func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// auditTx runs fn in one durable transaction on the audit writer.
func (s *Store) auditTx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.senders.RLock() // Close waits for a write in progress
	defer s.senders.RUnlock()
	if s.isClosed() {
		return ErrClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.audit.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
