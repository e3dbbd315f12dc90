package policy_test

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestSmallExcessOverHardBudgetIsShed: the meter-noise allowance (half the hysteresis band)
// belongs to the import limit, which margin_kw backs. A cap of 0 kW, the safe floor of a
// silent site meter and an under-frequency trip have no margin behind them: a fleet whose
// whole draw is inside that allowance is still paused. Against the import limit the same
// small excess stays noise.
func TestSmallExcessOverHardBudgetIsShed(t *testing.T) {
	cfg := policy.DefaultConfig() // hysteresis 10, margin 50: a 5 kW noise allowance
	cfg.ImportLimitKW = 1000
	old := time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)
	now := old.Add(time.Hour)
	fleet := []policy.Miner{{ID: "bitaxe-rack", Group: "g", Priority: 1, RatedKW: 3.5, EfficiencyJTH: 17.5,
		Proven: true, Commanded: policy.Command{Action: policy.ActionRun, Since: old}}}
	paused := func(t *testing.T, out policy.Output) {
		t.Helper()
		if len(out.Decisions) != 1 || out.Decisions[0].Action != policy.ActionPause {
			t.Fatalf("3.5 kW mining over a %.1f kW budget (%s): decisions %v", out.Basis.BudgetKW, out.Basis.Binding, out.Decisions)
		}
	}

	t.Run("cap 0", func(t *testing.T) {
		var rd policy.Readings
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: now})
		st, _ := policy.Decide(&cfg, policy.State{}, policy.Input{Now: now.Add(-10 * time.Second), Readings: rd, Fleet: fleet})
		_, out := policy.Decide(&cfg, st, policy.Input{Now: now, Readings: rd, Fleet: fleet,
			Manual: policy.Manual{CapKW: 0, CapUntil: now.Add(time.Hour)}})
		paused(t, out)
	})
	t.Run("safe floor", func(t *testing.T) {
		var rd policy.Readings
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: old})
		st, _ := policy.Decide(&cfg, policy.State{}, policy.Input{Now: old, Readings: rd, Fleet: fleet})
		_, out := policy.Decide(&cfg, st, policy.Input{Now: now, Readings: rd, Fleet: fleet}) // meter silent an hour
		if out.Basis.Mode != policy.ModeSafeFloor {
			t.Fatalf("mode %s, want safe_floor", out.Basis.Mode)
		}
		paused(t, out)
	})
	t.Run("under-frequency trip", func(t *testing.T) {
		cfg := cfg
		cfg.UnderFrequencyHz = 49.5
		var rd policy.Readings
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: now})
		rd.Set(policy.Reading{Role: policy.RoleFrequency, Value: 50, At: now.Add(-10 * time.Second)})
		st, _ := policy.Decide(&cfg, policy.State{}, policy.Input{Now: now.Add(-10 * time.Second), Readings: rd, Fleet: fleet})
		rd.Set(policy.Reading{Role: policy.RoleFrequency, Value: 49.2, At: now})
		_, out := policy.Decide(&cfg, st, policy.Input{Now: now, Readings: rd, Fleet: fleet})
		if out.Basis.Mode != policy.ModeTrip {
			t.Fatalf("mode %s, want trip", out.Basis.Mode)
		}
		paused(t, out)
	})
	t.Run("import limit keeps its noise allowance", func(t *testing.T) {
		// 3 kW over limit - margin: inside the margin, so meter noise, not a reason to shed.
		var rd policy.Readings
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 953, At: now.Add(-10 * time.Second)})
		st, _ := policy.Decide(&cfg, policy.State{}, policy.Input{Now: now.Add(-10 * time.Second), Readings: rd, Fleet: fleet})
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 953, At: now})
		_, out := policy.Decide(&cfg, st, policy.Input{Now: now, Readings: rd, Fleet: fleet})
		if len(out.Decisions) != 0 {
			t.Fatalf("3 kW over limit - margin (budget %.1f kW): decisions %v", out.Basis.BudgetKW, out.Decisions)
		}
	})
}
