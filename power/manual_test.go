package power

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// TestOperatorControlsSurviveRestart: a cap, a paused group, a scheduled demand-response event
// and a paused worker recorded by the console are back in force after a restart; cleared,
// cancelled, resumed and expired ones are not.
func TestOperatorControlsSurviveRestart(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "manual.db"))
	pc := testPolicy()
	pc.ImportLimitKW = 5000
	poolAddr := startPool(t)
	r := newRig(t, poolAddr, rigOptions{policy: &pc, store: st})
	ctx := context.Background()
	now := r.clk.Now()
	rec := func(kind, subject string, detail any) {
		if err := r.c.record(ctx, "user:ops", kind, subject, detail); err != nil {
			t.Fatal(err)
		}
	}
	rec(KindCap, "", map[string]any{"kw": 100.0, "until": now.Add(-time.Hour)}) // expired
	rec(KindPauseGroup, "rack1", nil)
	rec(KindPauseGroup, "rack2", nil)
	rec(KindResumeGroup, "rack2", nil)
	rec(KindCap, "", map[string]any{"kw": 250.0, "until": now.Add(time.Hour)})
	rec(KindDRScheduled, "dr-1", policy.DREvent{ID: "dr-1", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), TargetKW: 3000})
	rec(KindDRScheduled, "dr-2", policy.DREvent{ID: "dr-2", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), TargetKW: 2000})
	rec(KindDRCancelled, "dr-2", nil)
	rec(KindPauseWorker, "rack1.a", nil)
	rec(KindPauseWorker, "rack1.b", nil)
	rec(KindResumeWorker, "rack1.b", nil)

	r2 := newRig(t, poolAddr, rigOptions{policy: &pc, store: st, clk: clock.NewManual(now)})
	m := r2.c.runner.Snapshot().Manual
	got, _ := json.Marshal(m)
	if m.CapKW != 250 || !slices.Equal(m.PausedGroups, []string{"rack1"}) || len(m.DR) != 1 || m.DR[0].ID != "dr-1" {
		t.Fatalf("restored controls %s", got)
	}
	if a, b := r2.c.Holds("rack1.a"), r2.c.Holds("rack1.b"); a != HoldOperator || b != 0 {
		t.Fatalf("restored worker holds: a %s, b %s", a, b)
	}
	// Without a policy the worker holds are still replayed (they are the gate's).
	r3 := newRig(t, poolAddr, rigOptions{store: st, clk: clock.NewManual(now)})
	if a := r3.c.Holds("rack1.a"); a != HoldOperator || r3.c.Runner() != nil {
		t.Fatalf("without a policy: a held for %s", a)
	}
}
