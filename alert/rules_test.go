package alert

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func names(fs []finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key()
	}
	slices.Sort(out)
	return out
}

func TestConditionsPools(t *testing.T) {
	c := conditions{cfg: DefaultConfig()}
	down := []Pool{{Name: "main", State: "down", Reason: "connection refused"}, {Name: "backup", State: "down"}}
	fs := c.evaluate(t0, &Snapshot{Pools: down})
	if got := names(fs); !slices.Equal(got, []string{NameNoPoolUp}) {
		t.Fatalf("all down: %v", got)
	}
	if f := fs[0]; f.sev != SeverityCritical || f.hold != time.Minute ||
		!strings.Contains(f.description, "main (connection refused), backup (down)") {
		t.Fatalf("no_pool_up %+v", f)
	}
	down[1].Up = true
	fs = c.evaluate(t0, &Snapshot{Pools: down})
	if got := names(fs); !slices.Equal(got, []string{NamePoolDown + "\x00pool=main"}) {
		t.Fatalf("one down: %v", got)
	}
	if fs[0].sev != SeverityWarning || !strings.Contains(fs[0].description, "miners work on backup") {
		t.Fatalf("pool_down %+v", fs[0])
	}
	if fs := c.evaluate(t0, &Snapshot{}); len(fs) != 0 {
		t.Fatalf("no pool configured: %v", names(fs))
	}
}

func TestConditionsMetersAndPolicy(t *testing.T) {
	c := conditions{cfg: DefaultConfig()}
	s := Snapshot{
		Meters: []Meter{
			{Name: "grid", Role: "site_import", Site: true, Stale: true, LastGood: t0.Add(-time.Minute)},
			{Name: "ai", Role: "ai_load", Stale: true},
			{Name: "freq", Role: "frequency"},
		},
		Policy: &Policy{Mode: "safe_floor", BudgetKW: 50, Faults: "site_import"},
	}
	fs := c.evaluate(t0, &s)
	want := []string{NameSafeFloor, NameMeterStale + "\x00meter=ai\x00role=ai_load", NameMeterStale + "\x00meter=grid\x00role=site_import"}
	slices.Sort(want)
	if got := names(fs); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	for _, f := range fs {
		switch f.labels["meter"] {
		case "grid":
			if f.sev != SeverityCritical || !strings.Contains(f.description, "2026-03-01T11:59:00Z") || !strings.Contains(f.description, "safe floor") {
				t.Errorf("site meter %+v", f)
			}
		case "ai":
			if f.sev != SeverityWarning || !strings.Contains(f.description, "no good reading yet") {
				t.Errorf("ai meter %+v", f)
			}
		default:
			if f.hold != 2*time.Minute || !strings.Contains(f.description, "(site_import)") || !strings.Contains(f.description, "50.0 kW") {
				t.Errorf("safe floor %+v", f)
			}
		}
	}
	s = Snapshot{Policy: &Policy{Mode: "over_limit", ImportKW: 1040, LimitKW: 1000, BudgetKW: 200}}
	fs = c.evaluate(t0, &s)
	if len(fs) != 1 || fs[0].name != NameSiteOverLimit || fs[0].sev != SeverityCritical || fs[0].hold != time.Minute ||
		!strings.Contains(fs[0].description, "1040.0 kW is above the limit of 1000.0 kW") {
		t.Fatalf("over limit %+v", fs)
	}
	for _, mode := range []string{"normal", "trip"} {
		if fs := c.evaluate(t0, &Snapshot{Policy: &Policy{Mode: mode}}); len(fs) != 0 {
			t.Fatalf("%s: %v", mode, names(fs))
		}
	}
}

// TestConditionsMinersBaseline: a drop of more than miners_drop_percent below the peak of
// the last miners_baseline fires and keeps firing while the miners stay away; after the
// window the lower count is normal. Zero is its own, critical alert.
func TestConditionsMinersBaseline(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinersBaseline = Duration(10 * time.Minute)
	c := conditions{cfg: cfg}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	if fs := c.evaluate(at(0), &Snapshot{Miners: 0}); len(fs) != 0 {
		t.Fatalf("a site that never had miners: %v", names(fs))
	}
	c.evaluate(at(1), &Snapshot{Miners: 100})
	if fs := c.evaluate(at(2), &Snapshot{Miners: 51}); len(fs) != 0 {
		t.Fatalf("49%% fewer: %v", names(fs))
	}
	fs := c.evaluate(at(3), &Snapshot{Miners: 40})
	if len(fs) != 1 || fs[0].name != NameMinersOffline || fs[0].sev != SeverityWarning ||
		fs[0].description != "40 miners are connected, 60% fewer than the 100 connected within the last 10m0s." {
		t.Fatalf("60%% fewer: %+v", fs)
	}
	if fs := c.evaluate(at(10), &Snapshot{Miners: 40}); len(fs) != 1 {
		t.Fatalf("still away 9 minutes later: %v", names(fs))
	}
	if fs := c.evaluate(at(12), &Snapshot{Miners: 40}); len(fs) != 0 {
		t.Fatalf("the peak left the window: %v", names(fs))
	}
	fs = c.evaluate(at(13), &Snapshot{Miners: 0})
	if len(fs) != 1 || fs[0].name != NameNoMiners || fs[0].sev != SeverityCritical {
		t.Fatalf("all gone: %+v", fs)
	}
	if len(c.miners) > 12 {
		t.Fatalf("history not trimmed: %d samples", len(c.miners))
	}
}

func TestConditionsStore(t *testing.T) {
	c := conditions{cfg: DefaultConfig()}
	st := &Store{}
	if fs := c.evaluate(t0, &Snapshot{Store: st}); len(fs) != 0 {
		t.Fatalf("healthy: %v", names(fs))
	}
	st.ProbeErr = errors.New("database is locked")
	fs := c.evaluate(t0, &Snapshot{Store: st})
	if len(fs) != 1 || fs[0].name != NameStoreFailing || !strings.Contains(fs[0].description, "database is locked") {
		t.Fatalf("probe failing: %+v", fs)
	}
	st = &Store{WriteErr: errors.New("disk full")}
	fs = c.evaluate(t0, &Snapshot{Store: st})
	if len(fs) != 1 || fs[0].description != "Share commits are failing and being retried: disk full." {
		t.Fatalf("writer failing: %+v", fs)
	}
	// Counters rising hold the alert for storeWindow even when the probe passes between.
	st = &Store{WriteErrors: 3, SharesLost: 7}
	fs = c.evaluate(t0.Add(time.Minute), &Snapshot{Store: st})
	if len(fs) != 1 || !strings.Contains(fs[0].description, "3 share commits failed and 7 share events were lost") {
		t.Fatalf("counters: %+v", fs)
	}
	if fs := c.evaluate(t0.Add(5*time.Minute), &Snapshot{Store: st}); len(fs) != 1 {
		t.Fatal("store_failing ended within its window")
	}
	if fs := c.evaluate(t0.Add(6*time.Minute), &Snapshot{Store: st}); len(fs) != 0 {
		t.Fatalf("quiet for 5m: %v", names(fs))
	}
	if fs := c.evaluate(t0.Add(7*time.Minute), &Snapshot{}); len(fs) != 0 {
		t.Fatalf("no store: %v", names(fs))
	}
}
