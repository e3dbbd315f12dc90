package powersite_test

import (
	"os"
	"testing"

	"github.com/hashgate/hashgate/sim/powersite"
)

// minSpare is the spare energy each scenario must use. 95 % is the target; where the site's
// own rules make it unreachable the floor says why.
var minSpare = map[string]float64{
	// The AI load swings 60 kW every 10 s: with min_pause 60 s no controller may follow it
	// back up, so the best any controller can do is stay at the lower budget: 290 of an
	// average 320 kW, 90.6 %.
	"ai_oscillation": 90,
	// Safe floor while the site meter sends garbage, and the minimum pause after it.
	"site_meter_garbage": 93,
	// Noise of 10 kW on the site meter: the 20 kW hysteresis band that keeps it from
	// ratcheting the fleet down, and the noise on the restore's peak hold, cost part of it.
	"noisy_meter": 93.5,
	// Ten miners of every group ignore sleep: what they draw is not theirs to use, and each
	// burst waits for confirm_after before the others make room for it.
	"deaf_firmware": 94,
	// Every restore waits until the meter, 3 s behind and read every 2 s, has seen the last
	// one, with firmware half again as slow: restores come in 22 s steps.
	"lagging_meter": 93,
}

// TestScenarios runs every named scenario against hashgate's engine and checks what a site
// depends on; the baseline runs beside it for the comparison table (go test -v prints it).
func TestScenarios(t *testing.T) {
	rs, err := powersite.Compare(powersite.Scenarios())
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		powersite.WriteTable(os.Stdout, rs)
	}
	for _, r := range rs {
		if r.Controller != "hashgate" {
			continue
		}
		if r.AboveLimitS > 0 {
			t.Errorf("%s: %.1f s above the import limit beyond the firmware delay", r.Scenario, r.AboveLimitS)
		}
		if r.FastToggles > 0 {
			t.Errorf("%s: %d toggles faster than min_run/min_pause", r.Scenario, r.FastToggles)
		}
		if r.Stuck {
			t.Errorf("%s: mining ended far below the spare power with healthy meters", r.Scenario)
		}
		if r.RestoreBoundS > 0 && r.RestoreS > r.RestoreBoundS {
			t.Errorf("%s: full restore %.0f s after the site meter recovered (bound %.0f s)", r.Scenario, r.RestoreS, r.RestoreBoundS)
		}
		want := 95.0
		if v, ok := minSpare[r.Scenario]; ok {
			want = v
		}
		if r.SpareUsedPct < want {
			t.Errorf("%s: mining used %.2f %% of the spare energy (want >= %.1f %%)", r.Scenario, r.SpareUsedPct, want)
		}
		if r.MaxOverShedKW > 15 {
			t.Errorf("%s: shed %.1f kW more than any load rise asked for, beyond one miner and the hysteresis band", r.Scenario, r.MaxOverShedKW)
		}
	}
}

// TestRandomSites is the property test: over seeded random AI traces, unmetered steps, meter
// sets (with sub-meter dropouts, lag and noise) and fleets, with the site meter healthy:
// never above the limit beyond the firmware delay, never stuck and never more shed than one
// miner's rating plus the hysteresis band plus three sigma of site meter noise.
func TestRandomSites(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 10
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		sc := powersite.Random(seed)
		eng, err := powersite.NewEngine(sc.Config)
		if err != nil {
			t.Fatal(err)
		}
		r := powersite.Run(&sc, eng)
		noise := 3 * sc.Meters[0].Noise * sc.Config.ImportLimitKW
		switch {
		case r.AboveLimitS > 0:
			t.Errorf("seed %d: %.1f s above the limit beyond the firmware delay (max %.1f kW over)", seed, r.AboveLimitS, r.MaxOverKW)
		case r.FinalShortKW > noise+1:
			t.Errorf("seed %d: stuck %.1f kW below the spare power (noise allowance %.1f kW)", seed, r.FinalShortKW, noise)
		case r.MaxOverShedKW > noise+1:
			t.Errorf("seed %d: over-shed %.1f kW (noise allowance %.1f kW)", seed, r.MaxOverShedKW, noise)
		case r.FastToggles > 0:
			t.Errorf("seed %d: %d fast toggles", seed, r.FastToggles)
		}
	}
}
