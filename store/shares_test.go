package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestShareRoundTripAndRollup(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	at := t0.Add(10 * time.Second)
	var sent []ShareEvent
	for i, r := range []Result{ResultAcceptedLocal, ResultAcceptedLocal, ResultForwarded, ResultPoolAccepted,
		ResultPoolRejected, ResultRejected, ResultBlockCandidate, ResultPoolUnknown, ResultNotForwarded} {
		e := share("rig1", r, at.Add(time.Duration(i)*time.Second), i)
		if err := s.RecordShare(ctx, e); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, e)
	}
	// Same worker in the next minute, and another worker.
	if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0.Add(70*time.Second), 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordShare(ctx, share("rig2", ResultAcceptedLocal, at, 0)); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)

	got, err := s.Shares(ctx, ShareQuery{Worker: "rig1", Page: Page{From: t0, To: t0.Add(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sent) {
		t.Fatalf("got %d shares, want %d", len(got), len(sent))
	}
	// Lossless events may be committed ahead of lossy ones queued
	// earlier, so compare in time order rather than id order.
	slices.SortFunc(got, func(a, b ShareEvent) int { return a.Time.Compare(b.Time) })
	for i, g := range got {
		want := sent[i]
		want.ID = g.ID
		if !g.Time.Equal(want.Time) {
			t.Fatalf("share %d time %v, want %v", i, g.Time, want.Time)
		}
		g.Time = want.Time
		if g != want {
			t.Fatalf("share %d:\n got %+v\nwant %+v", i, g, want)
		}
	}

	stats, err := s.ShareStats(ctx, t0, t0.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].Worker != "rig1" || stats[1].Worker != "rig2" {
		t.Fatalf("stats: %+v", stats)
	}
	r1 := stats[0]
	if r1.AcceptedLocal != (Tally{2, 2048}) || r1.Forwarded.Count != 1 || r1.PoolAccepted.Count != 1 ||
		r1.PoolRejected.Count != 1 || r1.Rejected.Count != 1 || r1.BlockCandidates.Count != 1 {
		t.Fatalf("rig1 first minute: %+v", r1)
	}
	if r1.RejectReasons["stale"] != 2 {
		t.Fatalf("reject reasons %v", r1.RejectReasons)
	}
	if h := r1.Hashrate(time.Minute); h != 2048*(1<<32)/60.0 {
		t.Fatalf("hashrate %v", h)
	}
	two, err := s.ShareStats(ctx, t0, t0.Add(2*time.Minute), "rig1")
	if err != nil {
		t.Fatal(err)
	}
	if len(two) != 1 || two[0].AcceptedLocal.Count != 3 {
		t.Fatalf("rig1 two minutes: %+v", two)
	}
}

func TestRecordShareRejectsInvalid(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	for _, e := range []ShareEvent{
		{Time: t0, Result: 0},
		{Time: t0, Result: ResultNotForwarded + 1},
		{Result: ResultForwarded},
		// SQLite stores NaN as NULL: the row would fail its batch forever.
		{Time: t0, Result: ResultPoolAccepted, Difficulty: math.NaN()},
		{Time: t0, Result: ResultAcceptedLocal, Difficulty: 1, ShareDifficulty: math.NaN()},
	} {
		if err := s.RecordShare(ctx, e); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("RecordShare(%+v) = %v, want ErrInvalidRecord", e, err)
		}
	}
	// Nothing invalid reached the writer: a valid share still goes through.
	if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, t0, 0)); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	if n := countRows(t, s, "shares"); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// The writer commits a full batch at once and a partial one when
// FlushInterval has passed on its clock.
func TestBatcherFlushesOnSizeAndTime(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MaxBatch = 10
	cfg.FlushInterval = time.Second
	commits := make(chan int, 100)
	s := openTest(t, cfg, hooks{afterCommit: func(n int) { commits <- n }})
	ctx := context.Background()

	for i := range 25 {
		if err := s.RecordShare(ctx, share("rig1", ResultForwarded, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Two full batches go without the clock moving.
	for range 2 {
		if n := <-commits; n != 10 {
			t.Fatalf("size flush committed %d, want 10", n)
		}
	}
	// The last five wait for the timer; the writer is lingering on it.
	clock.WaitForTimers(t, 1)
	if n := countRows(t, s, "shares"); n != 20 {
		t.Fatalf("%d rows before the flush interval, want 20", n)
	}
	// Timers of the full batches are still pending and count in
	// WaitForTimers, so the writer may set its timer after an advance:
	// advance again until the commit comes.
	for total := 0; total < 5; {
		clock.WaitForTimers(t, 1)
		clock.Advance(time.Second)
		select {
		case n := <-commits:
			total += n
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := countRows(t, s, "shares"); n != 25 {
		t.Fatalf("%d rows after the flush interval, want 25", n)
	}
	if st := s.Stats(); st.SharesCommitted != 25 || st.SharesEnqueued != 25 {
		t.Fatalf("stats %+v", st)
	}
}

// With the writer held up, local shares are shed but still counted in the
// rollup, and pool verdicts wait for room instead of being dropped.
func TestOverloadShedsLossyNeverLossless(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueSize = 8
	cfg.MaxBatch = 1
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()

	// Hold the write lock: the writer takes one event and blocks on it.
	s.writeMu.Lock()
	locked := true
	defer func() {
		if locked {
			s.writeMu.Unlock()
		}
	}()
	for i := range cfg.QueueSize + 1 {
		if err := s.RecordShare(ctx, share("rig1", ResultForwarded, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	// The lossless queue is now exactly full: a caller whose context
	// ends is told, never silently dropped.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.RecordShare(cctx, share("rig1", ResultPoolAccepted, t0, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("full lossless queue, cancelled caller: %v", err)
	}

	// Fill the lossy queue, then flood it.
	const flood = 500
	for i := range cfg.QueueSize {
		if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range flood {
		if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, i)); !errors.Is(err, ErrShareShed) {
			t.Fatalf("flooded lossy queue: %v, want ErrShareShed", err)
		}
	}
	// The verdict whose caller gave up is lost, and counted; no local share is.
	if st := s.Stats(); st.SharesShed != flood || st.SharesLost != 1 {
		t.Fatalf("stats after flood %+v", st)
	}

	// Blocked lossless senders: each must eventually be committed.
	const blocked = 50
	var wg sync.WaitGroup
	errs := make(chan error, blocked)
	for i := range blocked {
		wg.Go(func() {
			errs <- s.RecordShare(ctx, share("rig2", ResultPoolAccepted, t0, i))
		})
	}
	s.writeMu.Unlock()
	locked = false
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("blocked lossless sender: %v", err)
		}
	}
	mustFlush(t, s)

	wantRows := cfg.QueueSize + 1 + cfg.QueueSize + blocked
	if n := countRows(t, s, "shares"); n != wantRows {
		t.Fatalf("%d ledger rows, want %d", n, wantRows)
	}
	stats, err := s.ShareStats(ctx, t0, t0.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 {
		t.Fatalf("stats %+v", stats)
	}
	if got := stats[0].AcceptedLocal.Count; got != int64(cfg.QueueSize+flood) {
		t.Fatalf("rollup counts %d local shares, want %d (shed rows still count)", got, cfg.QueueSize+flood)
	}
	if got := stats[0].Forwarded.Count; got != int64(cfg.QueueSize+1) {
		t.Fatalf("rollup counts %d forwarded, want %d", got, cfg.QueueSize+1)
	}
	if got := stats[1].PoolAccepted.Count; got != blocked {
		t.Fatalf("rollup counts %d pool_accepted for rig2, want %d", got, blocked)
	}
}

// Shed events beyond the overflow table's key limit are lost and counted.
func TestOverflowKeyLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueSize = 1
	cfg.MaxBatch = 1
	cfg.OverflowKeys = 1
	locking := make(chan struct{}, 16)
	s := openTest(t, cfg, hooks{beforeLock: func() { locking <- struct{}{} }})
	ctx := context.Background()
	s.writeMu.Lock()
	// Two lossless sends: the writer takes the first and blocks on the
	// lock, the second fills its queue. Nothing reads the lossy queue now.
	for i := range 2 {
		if err := s.RecordShare(ctx, share("rig1", ResultForwarded, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	<-locking // the overflow table stays as the sends below leave it
	if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, 0)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, i)); !errors.Is(err, ErrShareShed) {
			t.Fatalf("rig1 #%d: %v, want ErrShareShed", i, err)
		}
		// A second key does not fit in the overflow table.
		if err := s.RecordShare(ctx, share(fmt.Sprintf("other%d", i), ResultAcceptedLocal, t0, i)); !errors.Is(err, ErrShareShed) {
			t.Fatalf("other%d: %v, want ErrShareShed", i, err)
		}
	}
	s.writeMu.Unlock()
	mustFlush(t, s)
	st := s.Stats()
	if st.SharesShed != 3 || st.SharesLost != 3 {
		t.Fatalf("shed %d lost %d, want 3 and 3", st.SharesShed, st.SharesLost)
	}
	stats, err := s.ShareStats(ctx, t0, t0.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Worker != "rig1" || stats[0].AcceptedLocal.Count != 4 || stats[0].Forwarded.Count != 2 {
		t.Fatalf("rollup %+v, want rig1 only with 4 local and 2 forwarded", stats)
	}
}

// Events accepted before Close are committed by it; later calls fail.
func TestCloseCommitsQueuedAndIsIdempotent(t *testing.T) {
	cfg := testConfig(t)
	cfg.FlushInterval = time.Hour // only Close can flush
	cfg.Clock = newManualClock(t0)
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	for i := range 100 {
		if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, t0, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("RecordShare after Close: %v", err)
	}
	if _, err := s.RecordEvent(ctx, Event{Time: t0, Kind: "late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("RecordEvent after Close: %v", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	if _, err := s.LastStates(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastStates after Close: %v", err)
	}

	s = openTest(t, cfg, hooks{})
	if n := countRows(t, s, "shares"); n != 100 {
		t.Fatalf("%d rows after reopen, want 100", n)
	}
}
