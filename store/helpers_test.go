package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// manualClock is a Clock that moves only when the test advances it.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock(now time.Time) *manualClock {
	return &manualClock{now: now, changed: make(chan struct{})}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWaiter{c.now.Add(d), ch})
	c.notify()
	return ch
}

func (c *manualClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock and fires every timer that came due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
	c.notify()
}

// WaitForTimers blocks until at least n timers are pending.
func (c *manualClock) WaitForTimers(t *testing.T, n int) {
	t.Helper()
	for {
		c.mu.Lock()
		pending, changed := len(c.waiters), c.changed
		c.mu.Unlock()
		if pending >= n {
			return
		}
		select {
		case <-changed:
		case <-t.Context().Done():
			t.Fatalf("waiting for %d timers: %v", n, t.Context().Err())
		}
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "hashgate.db")
	cfg.PruneInterval = 0
	cfg.FlushInterval = 0
	return cfg
}

func openTest(t testing.TB, cfg Config, h hooks) *Store {
	t.Helper()
	s, err := open(context.Background(), cfg, zerolog.Nop(), h)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func share(worker string, r Result, at time.Time, i int) ShareEvent {
	e := ShareEvent{
		Time:            at,
		Worker:          worker,
		Pool:            "pool-a",
		Job:             "job-1",
		Difficulty:      1024,
		ShareDifficulty: 2048 + float64(i),
		Result:          r,
		Hash:            "00000000000000000001aa",
	}
	if r == ResultRejected || r == ResultPoolRejected {
		e.Reason = "stale"
	}
	return e
}

func mustFlush(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// countRows counts a table's rows through the read pool.
func countRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.read.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
