package power

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// TestShedOf10kMinersKeepsEveryAuditRecord: a shed of the whole fleet produces a decision, a
// decision event and an applied event per miner; none may be dropped between the Runner and
// SQLite.
func TestShedOf10kMinersKeepsEveryAuditRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("10k-miner shed")
	}
	const n = 10000
	st := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW, pc.MaxParallel = 40000, 100, 1000
	var applied atomic.Int64
	r, err := policy.NewRunner(pc, policy.RunnerOptions{
		Actuator: policy.ActuatorFunc(func(context.Context, policy.Decision) error { applied.Add(1); return nil }),
		Audit:    NewAudit(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	for k := range n {
		m := g.NewMiner(fmt.Sprintf("w%05d", k), fmt.Sprintf("w%05d", k))
		m.Proven = true
		m.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: time.Now().Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	now := time.Now()
	r.Observe(policy.Reading{Role: policy.RoleAILoad, Value: 39990, At: now})
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 39990 + 35000, At: now})
	// 30,000 audit rows through SQLite under the race detector on a busy 2-core box take about
	// a minute; the test is about losing none, not about speed, so it waits longer.
	deadline := time.Now().Add(5 * time.Minute)
	for !(applied.Load() >= n && r.Snapshot().Applied >= n) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for every command's result: %d actuated, %d applied", applied.Load(), r.Snapshot().Applied)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	for _, kind := range []string{"policy.decision", "policy.applied"} {
		count := 0
		q := store.EventQuery{Kind: kind, Page: store.Page{Limit: store.MaxPageLimit}}
		for {
			evs, err := st.Events(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			count += len(evs)
			if len(evs) < store.MaxPageLimit {
				break
			}
			q.Before = evs[len(evs)-1].ID
		}
		if count != n {
			t.Fatalf("%s events in the store: %d, want %d", kind, count, n)
		}
	}
}
