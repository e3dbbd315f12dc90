package policy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/internal/trace"
)

var update = flag.Bool("update", false, "rewrite testdata/policy/*.golden.json")

var traceNames = []string{"ai_spike", "unconfirmed_shed", "meter_dropout", "flapping", "under_frequency", "dr_event"}

// TestGoldenTraces replays every trace against a 200-miner plant with each meter set, checks
// the safety invariants, and compares the measured summary with the committed golden file.
func TestGoldenTraces(t *testing.T) {
	cfg := simConfig()
	for _, name := range traceNames {
		t.Run(name, func(t *testing.T) {
			tr := loadTrace(t, name)
			var results []*simResult
			for _, ms := range []meterSet{metersSubmeter, metersAI, metersImport} {
				res := replay(t, tr, ms, cfg)
				analyse(t, tr, cfg, res)
				if len(tr.Meta.Faults) == 0 && res.ModeSeconds["trip"] == 0 && res.UnusedPct > 15 {
					t.Errorf("%s: %.2f%% of the available energy left unused", ms, res.UnusedPct)
				}
				t.Logf("%s/%s: unused %.1f of %.1f kWh (%.2f%%), longest excursion %d s (allowed %d), toggles %d, decisions %v",
					name, ms, res.UnusedKWh, res.IdealKWh, res.UnusedPct, res.LongestExcurS, res.AllowedExcurS, res.Toggles, res.Decisions)
				results = append(results, res)
			}
			compareGolden(t, name, results)
		})
	}
}

// analyse checks the invariants every replay must hold and fills the summary.
func analyse(t *testing.T, tr *trace.Trace, cfg policy.Config, res *simResult) {
	t.Helper()
	m := tr.Meta
	stale := cfg.StaleAfter.D().Seconds()
	// A limit may be exceeded only for as long as a shed takes to reach the meter: one meter
	// period, the firmware delay and one step; an unresponsive miner adds the confirmation time
	// and a second round of firmware delay.
	allowed := int(m.ShedDelayS) + 2
	if m.Unresponsive > 0 {
		allowed += int(cfg.ConfirmAfter.D().Seconds()+m.ShedDelayS) + 2
	}
	res.AllowedExcurS = allowed
	run := 0
	var fleetKW float64
	for _, mi := range testFleet(t, 200) {
		fleetKW += mi.RatedKW
	}
	for s, imp := range res.imports {
		ts := float64(s)
		limit := cfg.ImportLimitKW
		for _, d := range m.DR {
			if d.Contains(ts) {
				limit = math.Min(limit, d.TargetKW)
			}
		}
		res.MaxImportKW = math.Max(res.MaxImportKW, r3(imp))
		if imp > limit+1e-9 {
			run++
			res.ExcursionS++
			if run > allowed {
				t.Errorf("%s: import %.1f kW above limit %.0f kW for %d s at t=%d (allowed %d s)", res.Variant, imp, limit, run, s, allowed)
			}
		} else {
			run = 0
		}
		res.LongestExcurS = max(res.LongestExcurS, run)
		ideal := math.Max(0, math.Min(limit-cfg.MarginKW-res.ai[s], fleetKW))
		res.IdealKWh += ideal / 3600
		res.MinedKWh += res.mining[s] / 3600
		res.UnusedKWh += math.Max(0, ideal-res.mining[s]) / 3600
	}
	if res.IdealKWh > 0 {
		res.UnusedPct = r3(100 * res.UnusedKWh / res.IdealKWh)
	}
	res.IdealKWh, res.MinedKWh, res.UnusedKWh = r3(res.IdealKWh), r3(res.MinedKWh), r3(res.UnusedKWh)

	// Dwell times: a pause that is not a safety shed respects min_run; every restart
	// respects min_pause.
	for id, h := range res.history {
		for k := 1; k < len(h); k++ {
			prev, cur := h[k-1], h[k]
			dwell := cur.t - prev.t
			switch {
			case cur.action == policy.ActionPause && !cur.reason.Safety() && dwell < cfg.MinRun.D().Seconds():
				t.Errorf("%s: %s paused (%s) after running %.0f s < min_run", res.Variant, id, cur.reason, dwell)
			case prev.action == policy.ActionPause && cur.action != policy.ActionPause && dwell < cfg.MinPause.D().Seconds():
				t.Errorf("%s: %s restarted after %.0f s paused < min_pause", res.Variant, id, dwell)
			}
		}
	}

	// Meter faults: the fleet reaches the safe floor once the fault is detectable (at once for
	// nonsense, after stale_after for silence) plus the firmware delay.
	for _, f := range m.Faults {
		from := f.FromS + m.ShedDelayS + 2
		if f.Kind == "dropout" {
			from += stale
		}
		if before := res.mining[int(f.FromS)-1]; before <= cfg.SafeFloorKW {
			t.Errorf("%s: fleet already at %.1f kW before the fault: the check proves nothing", res.Variant, before)
		}
		for s := int(from); float64(s) < f.ToS; s++ {
			if res.mining[s] > cfg.SafeFloorKW+1e-9 {
				t.Errorf("%s: t=%d during %s fault: mining %.1f kW above safe floor %.0f", res.Variant, s, f.Kind, res.mining[s], cfg.SafeFloorKW)
			}
			if res.modes[s] != policy.ModeSafeFloor {
				t.Errorf("%s: t=%d during %s fault: mode %s", res.Variant, s, f.Kind, res.modes[s])
			}
		}
	}

	// Under-frequency: everything off within the firmware delay, for the whole hold.
	first, last := -1, -1
	for _, smp := range tr.Samples {
		if smp.Role == policy.RoleFrequency && smp.Value < cfg.UnderFrequencyHz {
			if first < 0 {
				first = int(smp.T)
			}
			last = int(smp.T)
		}
	}
	if first >= 0 {
		end := last + int(cfg.UnderFrequencyHold.D().Seconds())
		for s := first + int(m.ShedDelayS); s < end && s < len(res.mining); s++ {
			if res.mining[s] != 0 {
				t.Errorf("%s: t=%d after under-frequency: mining %.3f kW", res.Variant, s, res.mining[s])
			}
		}
		if res.mining[end+int(cfg.RestoreInterval.D().Seconds())*4] == 0 {
			t.Errorf("%s: fleet never restored after the under-frequency hold", res.Variant)
		}
	}
}

// compareGolden checks the summaries against testdata/policy/<name>.golden.json.
func compareGolden(t *testing.T, name string, results []*simResult) {
	t.Helper()
	got, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "testdata", "policy", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./policy -run TestGoldenTraces -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("summary differs from %s; if the change is intended, rerun with -update.\ngot:\n%s", path, got)
	}
}
