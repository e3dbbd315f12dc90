package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/store"
)

// TestStoredEventsMatchTheLiveLog: every event of a shed, as the live log shows it, is in the
// store's audit trail (written by the power controller's audit) under the same kind and
// subject with the same detail, and the stored record reads back as that kind.
func TestStoredEventsMatchTheLiveLog(t *testing.T) {
	sc := store.DefaultConfig()
	sc.Path, sc.PruneInterval = filepath.Join(t.TempDir(), "events.db"), 0
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW = 100, 5
	r, err := policy.NewRunner(pc, policy.RunnerOptions{
		Actuator: policy.ActuatorFunc(func(context.Context, policy.Decision) error { return nil }),
		Audit:    power.NewAudit(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := policy.FleetGroup{Name: "rack", Pattern: "*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	for k := range 3 {
		m := g.NewMiner(fmt.Sprintf("rack.%d", k), fmt.Sprintf("rack.%d", k))
		m.Proven = true
		m.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: time.Now().Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	sub := r.Subscribe(256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 150, At: time.Now()}) // over the limit: shed all 3

	var live []EventView
	applied := 0
	for applied < 3 {
		ev := <-sub.C()
		if ev.Kind == policy.EventApplied {
			applied++
		}
		live = append(live, policyEventView(ev))
	}
	cancel()
	<-done // the audit writer has drained
	stored, err := st.Events(context.Background(), store.EventQuery{Page: store.Page{Limit: store.MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, lv := range live {
		kinds[lv.Kind]++
		found := false
		for _, se := range stored {
			sv := storeEventView(se)
			if sv.Kind == lv.Kind && sv.Subject == lv.Subject && se.Time.Equal(lv.At) && jsonEqual(sv.Detail, lv.Detail) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("live event %s %q (%s) is not in the store as such", lv.Kind, lv.Subject, lv.Detail)
		}
	}
	if kinds["policy.decision"] != 3 || kinds["policy.applied"] != 3 || kinds["policy.note.mode_changed"] != 1 {
		t.Fatalf("live events by kind: %v", kinds)
	}
	var d policy.DecisionDetail
	for _, lv := range live {
		if lv.Kind == "policy.decision" {
			if err := json.Unmarshal(lv.Detail, &d); err != nil || d.Action != "pause" || d.FromKW != 3.5 || d.Reason != "import_limit" || d.Why == "" {
				t.Fatalf("decision detail %s (%v)", lv.Detail, err)
			}
		}
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
