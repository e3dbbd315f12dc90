package app

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// TestOperatorControlsSurviveRestart: a cap, a paused group and a scheduled demand-response
// event recorded by the console are back in force after a restart; cleared or cancelled ones
// and expired ones are not.
func TestOperatorControlsSurviveRestart(t *testing.T) {
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "manual.db")
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := backend{a: &App{Store: st}}
	ctx := context.Background()
	now := time.Now()
	rec := func(kind, subject string, detail any) {
		if err := b.audit(ctx, "user:ops", kind, subject, detail); err != nil {
			t.Fatal(err)
		}
	}
	rec("manual.cap", "", map[string]any{"kw": 100.0, "until": now.Add(-time.Hour)}) // expired
	rec("manual.pause_group", "rack1", nil)
	rec("manual.pause_group", "rack2", nil)
	rec("manual.resume_group", "rack2", nil)
	rec("manual.cap", "", map[string]any{"kw": 250.0, "until": now.Add(time.Hour)})
	rec("manual.dr_scheduled", "dr-1", policy.DREvent{ID: "dr-1", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), TargetKW: 3000})
	rec("manual.dr_scheduled", "dr-2", policy.DREvent{ID: "dr-2", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), TargetKW: 2000})
	rec("manual.dr_cancelled", "dr-2", nil)

	pc := policy.DefaultConfig()
	pc.ImportLimitKW = 5000
	r, err := policy.NewRunner(pc, policy.RunnerOptions{Actuator: policy.ActuatorFunc(func(context.Context, policy.Decision) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	n, err := restoreManual(ctx, st, r, now)
	if err != nil || n != 8 {
		t.Fatalf("restored %d (%v)", n, err)
	}
	m := r.Snapshot().Manual
	got, _ := json.Marshal(m)
	if m.CapKW != 250 || !slices.Equal(m.PausedGroups, []string{"rack1"}) || len(m.DR) != 1 || m.DR[0].ID != "dr-1" {
		t.Fatalf("restored controls %s", got)
	}
}
