package store

import (
	"context"
	"testing"
	"time"
)

// seedAges records one of each kind of record at each of the given ages
// before the clock's now.
func seedAges(t *testing.T, s *Store, now time.Time, ages ...time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i, age := range ages {
		at := now.Add(-age)
		if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, at, i)); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordDecisions(ctx, Decision{Time: at, MinerID: "m1", Action: "run", TargetKW: float64(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordEvent(ctx, Event{Time: at, Kind: "k"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordEnergy(ctx, EnergyInterval{Start: at, Length: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)
}

func TestPruneByRetention(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.Retention = 30 * 24 * time.Hour
	cfg.ShareRetention = 24 * time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	day := 24 * time.Hour
	// Ages: 1h, 2d, 40d. The newest decision (1h) is m1's last state.
	seedAges(t, s, t0, 40*day, 2*day, time.Hour)

	r, err := s.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The 40-day-old rollup minute is folded into its hour (minutes are
	// kept 48h), which retention then prunes.
	want := PruneResult{Shares: 2, Rollup: 1, Decisions: 1, Events: 1, Energy: 1, MinutesFolded: 1}
	if r != want {
		t.Fatalf("first prune %+v, want %+v", r, want)
	}
	for table, n := range map[string]int{"shares": 1, "share_rollup": 2, "share_rollup_hour": 0, "decisions": 2, "events": 2, "energy": 2} {
		if got := countRows(t, s, table); got != n {
			t.Errorf("%s: %d rows, want %d", table, got, n)
		}
	}
	// A prune with nothing due deletes nothing.
	if r, err := s.Prune(ctx); err != nil || r.Total() != 0 {
		t.Fatalf("second prune: %+v, %v", r, err)
	}

	// Sixty days later everything but the miner's state is gone; the state
	// stays and only loses the link to its pruned decision.
	clock.Advance(60 * day)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"shares", "share_rollup", "share_rollup_hour", "decisions", "events", "energy"} {
		if got := countRows(t, s, table); got != 0 {
			t.Errorf("%s: %d rows after all expired", table, got)
		}
	}
	states, err := s.LastStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := states["m1"]; st.Action != "run" || st.TargetKW != 2 || st.DecisionID != 0 {
		t.Fatalf("state after its decision was pruned: %+v", st)
	}
}

func TestPruneLoopRunsOnClock(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.PruneInterval = time.Hour
	cfg.Retention = 48 * time.Hour
	cfg.ShareRetention = 48 * time.Hour
	s := openTest(t, cfg, hooks{})
	seedAges(t, s, t0, time.Hour, 47*time.Hour)

	clock.WaitForTimers(t, 1) // the pruner is waiting
	if n := countRows(t, s, "events"); n != 2 {
		t.Fatalf("%d events before the interval", n)
	}
	// Two hours on, the 47h-old records are past 48h; the pruner wakes
	// once the interval passes, prunes, and waits again.
	clock.Advance(2 * time.Hour)
	clock.WaitForTimers(t, 1)
	if st := s.Stats(); st.Prunes != 1 || st.RowsPruned == 0 {
		t.Fatalf("stats after one interval %+v", st)
	}
	for _, table := range []string{"shares", "decisions", "events", "energy"} {
		if n := countRows(t, s, table); n != 1 {
			t.Errorf("%s: %d rows after prune, want 1", table, n)
		}
	}
}
