package app

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// TestShedOf10kMinersKeepsEveryAuditRecord: a shed of the whole fleet produces a decision and
// an applied event per miner; none may be dropped between the runner and SQLite.
func TestShedOf10kMinersKeepsEveryAuditRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("10k-miner shed")
	}
	const n = 10000
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "audit.db")
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW, pc.MaxParallel = 40000, 100, 1000
	var applied atomic.Int64
	r, err := policy.NewRunner(pc, policy.RunnerOptions{
		Actuator: policy.ActuatorFunc(func(context.Context, policy.Decision) error { applied.Add(1); return nil }),
		Audit:    audit{st},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	for k := 0; k < n; k++ {
		m := g.NewMiner(fmt.Sprintf("w%05d", k), fmt.Sprintf("w%05d", k))
		m.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: time.Now().Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	now := time.Now()
	r.Observe(policy.Reading{Role: policy.RoleAILoad, Value: 39990, At: now})
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 39990 + 35000, At: now})
	waitFor(t, "every miner commanded", func() bool { return applied.Load() >= n })
	cancel()
	<-done // Run returns after the audit writer has drained
	if d := r.Snapshot().AuditDropped; d != 0 {
		t.Fatalf("%d audit items dropped", d)
	}
	states, err := st.LastStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	paused := 0
	for _, s := range states {
		if s.Action == "pause" {
			paused++
		}
	}
	if paused != n {
		t.Fatalf("%d miners recorded paused, want %d", paused, n)
	}
	evs, err := st.Events(context.Background(), store.EventQuery{Kind: "policy.applied", Page: store.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1000 {
		t.Fatalf("applied events in the store: %d", len(evs))
	}
}
