package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// logBuffer collects a store's log lines; the writer goroutine and the test
// use it concurrently.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the log lines containing every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// diskFull makes the ledger connection's writes fail with SQLITE_FULL once
// they need a new page, as a full disk does: max_page_count is a setting of
// the connection, and the ledger writer has exactly one.
func diskFull(t *testing.T, s *Store) {
	t.Helper()
	var pages int64
	if err := s.ledger.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ledger.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
}

// diskFreed lifts diskFull.
func diskFreed(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.ledger.Exec("PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond; the deadline only keeps a broken store from hanging
// the test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func openLogged(t *testing.T, cfg Config) (*Store, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := open(context.Background(), cfg, zerolog.New(logs), hooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// advanceUntil moves the clock past the writer's back-off until cond holds.
// It advances again and again because the writer may set its timer just
// after an advance, and timers cut short by a flush stay pending.
func advanceUntil(t *testing.T, clock *manualClock, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, what, func() bool {
		if cond() {
			return true
		}
		clock.Advance(maxRetry)
		return false
	})
}

// failAgain waits for the writer's next retry to fail too.
func failAgain(t *testing.T, s *Store, clock *manualClock) {
	t.Helper()
	n := s.WriteState().Failures
	advanceUntil(t, clock, "another failed commit", func() bool { return s.WriteState().Failures > n })
}

// TestDiskFullRetriesAndRecovers: with the disk full no accepted share is
// dropped: the writer keeps its batch and retries it, the queues hold what
// arrives meanwhile, and every share is in the ledger once space is back.
// Each episode logs one error with its cause and one recovery line.
func TestDiskFullRetriesAndRecovers(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MaxBatch = 16
	cfg.QueueSize = 1024
	s, logs := openLogged(t, cfg)
	ctx := context.Background()

	written := 0
	record := func(n int) {
		for i := range n {
			// Mostly accepted shares, the kind a failed commit used to drop.
			r := ResultAcceptedLocal
			if i%50 == 0 {
				r = ResultPoolAccepted
			}
			if err := s.RecordShare(ctx, share("rig1", r, t0, written)); err != nil {
				t.Fatal(err)
			}
			written++
		}
	}
	record(40)
	mustFlush(t, s)

	for episode := 1; episode <= 2; episode++ {
		diskFull(t, s)
		start := clock.Now()
		// Enough rows to need pages the file no longer has.
		record(600)
		waitUntil(t, "a commit to fail on the full disk", func() bool { return s.WriteState().Err != nil })
		failAgain(t, s, clock)
		failAgain(t, s, clock)
		ws := s.WriteState()
		if ws.Failures < 3 || !strings.Contains(ws.Err.Error(), "full") || !ws.Since.Equal(start) {
			t.Fatalf("episode %d: write state %+v", episode, ws)
		}
		// A flush while failing says so, at once.
		if err := s.Flush(ctx); err == nil {
			t.Fatalf("episode %d: Flush on a full disk returned nil", episode)
		}
		if st := s.Stats(); st.SharesLost != 0 || st.SharesShed != 0 {
			t.Fatalf("episode %d: shares dropped while the disk is full: %+v", episode, st)
		}
		if got := logs.lines(`"level":"error"`, "store writes failing", "database or disk is full"); len(got) != episode {
			t.Fatalf("episode %d: %d failure lines, want one per episode:\n%s", episode, len(got), strings.Join(logs.lines("store writes"), "\n"))
		}

		diskFreed(t, s)
		advanceUntil(t, clock, "the retry to go through", func() bool { return s.WriteState().Err == nil })
		mustFlush(t, s)
		if n := countRows(t, s, "shares"); n != written {
			t.Fatalf("episode %d: %d ledger rows, want every one of the %d shares", episode, n, written)
		}
		if got := logs.lines("store writes recovered after", "failures, 0 shares lost"); len(got) != episode {
			t.Fatalf("episode %d: %d recovery lines:\n%s", episode, len(got), strings.Join(logs.lines("store writes"), "\n"))
		}
	}
	st := s.Stats()
	if st.WriteErrors < 6 || st.SharesCommitted != uint64(written) || st.SharesLost != 0 {
		t.Fatalf("stats %+v", st)
	}
	stats, err := s.ShareStats(ctx, t0, t0.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := stats[0].AcceptedLocal.Count + stats[0].PoolAccepted.Count; got != int64(written) {
		t.Fatalf("rollup counts %d shares, want %d", got, written)
	}
}

// TestDiskFullLossIsCountedAndLogged: when an outage outlasts the queues,
// local shares are shed (counted in the rollup), then lost when the overflow
// table is full, and a verdict on a full queue while writes fail is lost at once: every one
// is counted, and the recovery line says how many shares the ledger missed.
func TestDiskFullLossIsCountedAndLogged(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MaxBatch = 64
	cfg.QueueSize = 8
	cfg.OverflowKeys = 1
	s, logs := openLogged(t, cfg)
	ctx := context.Background()
	mustFlush(t, s)
	diskFull(t, s)

	// Verdicts, one commit each, until a commit fails: the writer then
	// holds that one and retries it.
	kept := 0
	for s.WriteState().Err == nil {
		if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, t0, kept)); err != nil {
			t.Fatal(err)
		}
		kept++
		s.Flush(ctx)
		if kept > 10000 {
			t.Fatal("the full disk never refused a commit")
		}
	}
	// Nothing reads the queues while the writer retries: fill them.
	for i := range cfg.QueueSize {
		if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, t0, i)); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	kept += 2 * cfg.QueueSize
	const shed, lostLocal = 30, 5
	for i := range shed {
		if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, i)); !errors.Is(err, ErrShareShed) {
			t.Fatalf("local share on full queue: %v, want ErrShareShed", err)
		}
	}
	for i := range lostLocal {
		// Another key does not fit the overflow table: lost entirely.
		if err := s.RecordShare(ctx, share(fmt.Sprintf("rig-%d", i), ResultAcceptedLocal, t0, i)); !errors.Is(err, ErrShareShed) {
			t.Fatalf("local share, overflow full: %v", err)
		}
	}
	// A verdict on a full queue while commits fail is refused at once, not
	// after its caller's bound: the callers are the proxy's pool and miner
	// readers, and a wait per verdict stalled every answer and job behind it.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.RecordShare(cctx, share("rig1", ResultPoolAccepted, t0, 0)); !errors.Is(err, ErrShareLost) {
		t.Fatalf("verdict on full queue while failing: %v, want ErrShareLost at once", err)
	}
	if st := s.Stats(); st.SharesShed != shed || st.SharesLost != lostLocal+1 {
		t.Fatalf("stats while failing: %+v", st)
	}
	// Losses during an episode are in its recovery line, not lines of their own.
	if got := logs.lines("share events dropped"); len(got) != 0 {
		t.Fatalf("drop lines during an episode: %q", got)
	}

	diskFreed(t, s)
	advanceUntil(t, clock, "the retry to go through", func() bool { return s.WriteState().Err == nil })
	mustFlush(t, s)
	if n := countRows(t, s, "shares"); n != kept {
		t.Fatalf("%d ledger rows, want the %d shares taken", n, kept)
	}
	want := fmt.Sprintf("store writes recovered after %d failures, %d shares lost", s.Stats().WriteErrors, shed+lostLocal+1)
	if got := logs.lines(want); len(got) != 1 {
		t.Fatalf("want one %q line:\n%s", want, strings.Join(logs.lines("store writes"), "\n"))
	}
	stats, err := s.ShareStats(ctx, t0, t0.Add(time.Minute), "rig1")
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].AcceptedLocal.Count != int64(cfg.QueueSize+shed) {
		t.Fatalf("rollup %+v, want %d local shares (shed rows still counted)", stats, cfg.QueueSize+shed)
	}

	// Outside an episode, drops are logged too, at most once a minute.
	s.writeMu.Lock()
	for i := range 3 * cfg.QueueSize {
		s.RecordShare(ctx, share(fmt.Sprintf("late-%d", i), ResultAcceptedLocal, t0, i))
	}
	s.writeMu.Unlock()
	if got := logs.lines("share events dropped: the store is not keeping up"); len(got) != 1 {
		t.Fatalf("want one drop line, got %q", got)
	}
}
