package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Producers of every kind of record, readers and a pruner run at once;
// nothing accepted is lost and the race detector stays quiet.
func TestConcurrentUse(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueSize = 64
	cfg.MaxBatch = 32
	cfg.Retention = 0
	cfg.ShareRetention = 0
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()

	const (
		shareWorkers = 6
		perWorker    = 400
		auditors     = 3
		perAuditor   = 15
	)
	var wg sync.WaitGroup
	var mu sync.Mutex
	lossyOK := 0
	for w := range shareWorkers {
		wg.Go(func() {
			worker := fmt.Sprintf("rig%d", w)
			for i := range perWorker {
				r := ResultAcceptedLocal
				if i%4 == 0 {
					r = ResultPoolAccepted
				}
				err := s.RecordShare(ctx, share(worker, r, t0.Add(time.Duration(i)*time.Millisecond), i))
				switch {
				case err == nil && !r.Lossless():
					mu.Lock()
					lossyOK++
					mu.Unlock()
				case errors.Is(err, ErrShareShed) && !r.Lossless():
				case err != nil:
					t.Errorf("%s share %d: %v", worker, i, err)
					return
				}
			}
		})
	}
	for a := range auditors {
		wg.Go(func() {
			miner := fmt.Sprintf("m%d", a)
			for i := range perAuditor {
				if err := s.RecordDecisions(ctx, Decision{Time: t0.Add(time.Duration(i) * time.Second), MinerID: miner,
					Action: "run", TargetKW: float64(i)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.RecordEvent(ctx, Event{Time: t0, Kind: "k", Subject: miner}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.ShareStats(ctx, t0, t0.Add(time.Hour), ""); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Events(ctx, EventQuery{Page: Page{Limit: 10}}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.LastStates(ctx); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Prune(ctx); err != nil {
					t.Error(err)
					return
				}
				s.Stats()
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	mustFlush(t, s)

	lossless := shareWorkers * perWorker / 4
	st := s.Stats()
	if got := countRows(t, s, "shares"); got != lossless+lossyOK {
		t.Fatalf("%d ledger rows, want %d lossless + %d lossy", got, lossless, lossyOK)
	}
	stats, err := s.ShareStats(ctx, t0, t0.Add(time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	var local, pool int64
	for _, w := range stats {
		local += w.AcceptedLocal.Count
		pool += w.PoolAccepted.Count
	}
	if pool != int64(lossless) || local != int64(shareWorkers*perWorker-lossless)-int64(st.SharesLost) {
		t.Fatalf("rollup local %d pool %d, stats %+v", local, pool, st)
	}
	if n := countRows(t, s, "decisions"); n != auditors*perAuditor {
		t.Fatalf("%d decisions", n)
	}
	states, _ := s.LastStates(ctx)
	for a := range auditors {
		if st := states[fmt.Sprintf("m%d", a)]; st.TargetKW != perAuditor-1 {
			t.Fatalf("m%d state %+v", a, st)
		}
	}
}

// Close while lossless senders are blocked on a full queue: each either
// returns nil and is committed, or returns ErrClosed.
func TestCloseWithBlockedSenders(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueueSize = 4
	cfg.MaxBatch = 1
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	s.writeMu.Lock()
	const senders = 40
	results := make(chan error, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() { results <- s.RecordShare(ctx, share("rig1", ResultBlockCandidate, t0, i)) })
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Close cannot finish while the writer is held; let it go once the
	// store is marked closing so the race is between senders and Close.
	<-s.closing
	s.writeMu.Unlock()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	accepted := 0
	for err := range results {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, ErrClosed):
			t.Fatalf("sender: %v", err)
		}
	}
	s = openTest(t, cfg, hooks{})
	if n := countRows(t, s, "shares"); n != accepted {
		t.Fatalf("%d rows after close, %d sends accepted", n, accepted)
	}
}
