package store

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestWorkerHashrate reads one worker's history from the rollup: minutes
// as they are, an hour folded from minutes older than the minute retention,
// other workers and rejected shares left out.
func TestWorkerHashrate(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(-d) }
	for i, e := range []ShareEvent{
		share("rig1", ResultAcceptedLocal, at(30*time.Minute), 0),
		share("rig1", ResultAcceptedLocal, at(30*time.Minute-time.Second), 1),
		share("rig1", ResultAcceptedLocal, at(29*time.Minute), 2),
		share("rig1", ResultRejected, at(29*time.Minute), 3),
		share("rig2", ResultAcceptedLocal, at(29*time.Minute), 4),
		// Three days ago: folded into its hour by the prune below.
		share("rig1", ResultAcceptedLocal, at(72*time.Hour), 5),
	} {
		if err := s.RecordShare(ctx, e); err != nil {
			t.Fatalf("share %d: %v", i, err)
		}
	}
	mustFlush(t, s)
	if r, err := s.Prune(ctx); err != nil || r.MinutesFolded != 1 {
		t.Fatalf("prune %+v %v, want the 3-day-old minute folded", r, err)
	}
	perMinute := 1024 * math.Exp2(32) / 60 // one share of difficulty 1024 in a minute

	pts, err := s.WorkerHashrate(ctx, "rig1", t0.Add(-time.Hour), t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 60 || pts[0].At != t0.Add(-time.Hour).Unix() {
		t.Fatalf("%d points from %d", len(pts), pts[0].At)
	}
	for i, p := range pts {
		want := 0.0
		switch i {
		case 30:
			want = 2 * perMinute
		case 31:
			want = perMinute
		}
		if math.Abs(p.HashesPerSec-want) > 1 {
			t.Fatalf("minute %d: %v H/s, want %v", i, p.HashesPerSec, want)
		}
	}

	// A week by hours: the folded hour and the recent hour's minutes.
	pts, err = s.WorkerHashrate(ctx, "rig1", t0.Add(-7*24*time.Hour), t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, p := range pts {
		sum += p.HashesPerSec * 3600 / math.Exp2(32)
	}
	if len(pts) != 168 || math.Abs(sum-4*1024) > 1e-6 || pts[167].HashesPerSec == 0 || pts[168-72].HashesPerSec == 0 {
		t.Fatalf("week: %d points, work %v (want 4096), last %v, 72h ago %v", len(pts), sum, pts[167].HashesPerSec, pts[168-72].HashesPerSec)
	}

	// The folded hour over 15-minute steps: each quarter gets the hour's average.
	pts, err = s.WorkerHashrate(ctx, "rig1", at(73*time.Hour), at(71*time.Hour), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var nonzero int
	for _, p := range pts {
		if p.HashesPerSec != 0 {
			nonzero++
			if math.Abs(p.HashesPerSec-1024*math.Exp2(32)/3600) > 1 {
				t.Fatalf("quarter of the folded hour: %v H/s", p.HashesPerSec)
			}
		}
	}
	if nonzero != 4 {
		t.Fatalf("%d quarters carry the folded hour, want 4", nonzero)
	}

	if _, err := s.WorkerHashrate(ctx, "rig1", t0.Add(-time.Hour), t0, 90*time.Second); err == nil {
		t.Fatal("a step that is not whole minutes was accepted")
	}
	if _, err := s.WorkerHashrate(ctx, "rig1", t0.Add(-30*24*time.Hour), t0, time.Minute); err == nil {
		t.Fatal("43,200 points were accepted")
	}
	if pts, err := s.WorkerHashrate(ctx, "nobody", t0.Add(-time.Hour), t0, time.Minute); err != nil || len(pts) != 60 || pts[30].HashesPerSec != 0 {
		t.Fatalf("unknown worker: %v %d", err, len(pts))
	}
}
