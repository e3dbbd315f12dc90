package store

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEnergyReportExpectedSats: the expected satoshis of pool-accepted shares are summed per
// day beside their difficulty, through the minute rollup and after minutes fold into hours;
// other results (local accepts, rejects) count nothing, and a NaN is refused at the door.
func TestEnergyReportExpectedSats(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MinuteRollupRetention = 2 * time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	// A pool-accepted share every 10 minutes for 4 hours, each worth 1000.25 sats, and as
	// many local accepts that must not count.
	for m := 0; m < 240; m += 10 {
		at := t0.Add(time.Duration(m) * time.Minute)
		for _, r := range []Result{ResultPoolAccepted, ResultAcceptedLocal} {
			if err := s.RecordShare(ctx, ShareEvent{Time: at, Worker: "rig1", Pool: "p", Job: "j",
				Difficulty: 64, ShareDifficulty: 70, Result: r, ExpectedSats: 1000.25}); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := s.RecordShare(ctx, ShareEvent{Time: t0, Worker: "rig1", Pool: "p", Difficulty: 64,
		Result: ResultPoolAccepted, ExpectedSats: math.NaN()})
	if !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("NaN expected sats: %v, want ErrInvalidRecord", err)
	}
	mustFlush(t, s)
	check := func(stage string) {
		t.Helper()
		days, err := s.EnergyReport(ctx, t0, t0, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 1 || days[0].AcceptedDifficulty != 24*64 || days[0].ExpectedSats != 24*1000.25 {
			t.Fatalf("%s: %+v, want difficulty %d and %v sats", stage, days, 24*64, 24*1000.25)
		}
	}
	check("minutes")
	clock.Advance(4 * time.Hour)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	var hourRows int
	if err := s.ledger.QueryRowContext(ctx, `SELECT COUNT(*) FROM share_rollup_hour`).Scan(&hourRows); err != nil {
		t.Fatal(err)
	}
	if hourRows == 0 {
		t.Fatal("no minute folded into hours: the test proves nothing about the fold")
	}
	check("hours and minutes")
}

// oldRollupWriter makes the store write share_rollup as builds before sats_sum did, for the
// tests that run an older schema (the expected sats, bound as ?8, are dropped); the returned
// func (also run at cleanup) restores it.
func oldRollupWriter(t *testing.T) (restore func()) {
	saved := upsertRollupSQL
	upsertRollupSQL = `INSERT INTO share_rollup
		(minute, worker, pool, result, reason, n, diff_sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7 + 0 * ?8)
		ON CONFLICT (minute, worker, pool, result, reason)
		DO UPDATE SET n = n + excluded.n, diff_sum = diff_sum + excluded.diff_sum`
	restore = func() { upsertRollupSQL = saved }
	t.Cleanup(restore)
	return restore
}

// TestMigrateAddsSatsKeepingRollups: a ledger written before sats_sum keeps its accepted
// difficulty through the migration, worth 0 expected sats (its jobs' rewards were never
// kept), and shares recorded after it add their sats to the same minute.
func TestMigrateAddsSatsKeepingRollups(t *testing.T) {
	cfg := testConfig(t)
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	pre := slices.IndexFunc(saved, func(m string) bool { return strings.Contains(m, "ADD COLUMN sats_sum") })
	if pre < 0 {
		t.Fatal("no sats_sum migration")
	}
	migrations = saved[:pre]
	restore := oldRollupWriter(t)
	old := openTest(t, cfg, hooks{})
	ctx := context.Background()
	ev := ShareEvent{Time: t0, Worker: "rig1", Pool: "p", Job: "j", Difficulty: 8, Result: ResultPoolAccepted, ExpectedSats: 99}
	if err := old.RecordShare(ctx, ev); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, old)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	migrations = saved
	restore()
	s := openTest(t, cfg, hooks{})
	days, err := s.EnergyReport(ctx, t0, t0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].AcceptedDifficulty != 8 || days[0].ExpectedSats != 0 {
		t.Fatalf("after migrating: %+v", days)
	}
	ev.ExpectedSats = 40.5
	if err := s.RecordShare(ctx, ev); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	if days, err = s.EnergyReport(ctx, t0, t0, ""); err != nil || len(days) != 1 || days[0].AcceptedDifficulty != 16 || days[0].ExpectedSats != 40.5 {
		t.Fatalf("a new share in the migrated minute: %+v, %v", days, err)
	}
}
