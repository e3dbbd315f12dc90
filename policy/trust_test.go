package policy_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// Each test here reproduces a way the power loop broke a site's trust, on the engine alone.

// fleetOf builds n proven, running on/off miners of kw each, ramping in ramp.
func fleetOf(n int, prefix string, prio int, kw, eff float64, ramp time.Duration) []policy.Miner {
	out := make([]policy.Miner, n)
	for i := range out {
		out[i] = policy.Miner{ID: fmt.Sprintf("%s%02d", prefix, i), Group: prefix, Priority: prio, RatedKW: kw, EfficiencyJTH: eff,
			Ramp: ramp, Proven: true, Commanded: policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}}
	}
	return out
}

func committedKW(fleet []policy.Miner) float64 {
	var kw float64
	for i := range fleet {
		m := &fleet[i]
		if !m.Proven {
			continue
		}
		switch m.Commanded.Action {
		case policy.ActionRun, policy.ActionUnknown:
			kw += m.RatedKW
		case policy.ActionThrottle:
			kw += m.Commanded.TargetKW
		}
	}
	return kw
}

func countAction(fleet []policy.Miner, a policy.Action) int {
	n := 0
	for _, m := range fleet {
		if m.Commanded.Action == a {
			n++
		}
	}
	return n
}

// TestSiteMeterBindsWhileAIMeterHealthy: load no sub-meter sees (cooling, a second hall) still
// counts. Site meter 130 kW against a 100 kW limit with the AI meter at 10 kW must shed.
func TestSiteMeterBindsWhileAIMeterHealthy(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW = 100, 5
	eng, _ := policy.NewEngine(cfg)
	fleet := fleetOf(10, "m", 1, 4, 20, 5*time.Second) // 40 kW
	var rd policy.Readings
	rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 130, At: epoch})
	rd.Set(policy.Reading{Role: policy.RoleAILoad, Value: 10, At: epoch})
	out := eng.Step(policy.Input{Now: epoch, Readings: rd, Fleet: fleet})
	applyDecisions(&cfg, fleet, out.Decisions, epoch)
	// Non-mining is 130 - 40 = 90 whatever the AI meter says: budget 100 - 5 - 90 = 5 kW.
	if out.Basis.NonMiningKW != 90 || out.Basis.NonMiningFrom != policy.RoleSiteImport || out.Basis.BudgetKW != 5 {
		t.Fatalf("basis %+v", out.Basis)
	}
	if got := committedKW(fleet); got > 5 {
		t.Fatalf("committed %.1f kW with the site 30 kW over its limit", got)
	}
	if out.Basis.Mode != policy.ModeOverLimit || out.Basis.Binding != policy.ReasonImportLimit {
		t.Fatalf("mode %s binding %s", out.Basis.Mode, out.Basis.Binding)
	}
	// The AI meter still raises non-mining load when it reads more than the site meter leaves.
	rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 60, At: epoch.Add(time.Second)})
	rd.Set(policy.Reading{Role: policy.RoleAILoad, Value: 70, At: epoch.Add(time.Second)})
	out = eng.Step(policy.Input{Now: epoch.Add(time.Second), Readings: rd, Fleet: fleet})
	if out.Basis.NonMiningKW != 70 || out.Basis.NonMiningFrom != policy.RoleAILoad {
		t.Fatalf("AI meter must never be loosened: %+v", out.Basis)
	}
}

// TestSubMeterBlipRestores: a sub-meter that goes stale and comes back neither sheds the fleet
// (the site meter still binds) nor blocks restores afterwards.
func TestSubMeterBlipRestores(t *testing.T) {
	for _, role := range []policy.Role{policy.RoleAILoad, policy.RoleMiningLoad} {
		t.Run(role.String(), func(t *testing.T) {
			cfg := policy.DefaultConfig()
			cfg.ImportLimitKW, cfg.MarginKW, cfg.RestoreStepKW, cfg.RestoreInterval = 100, 5, 10, policy.Duration(10*time.Second)
			cfg.MinPause, cfg.HysteresisKW = policy.Duration(30*time.Second), 1
			eng, _ := policy.NewEngine(cfg)
			fleet := fleetOf(12, "m", 1, 4, 20, 5*time.Second) // 48 kW
			var rd policy.Readings
			ai := 80.0
			now := epoch
			var out policy.Output
			for s := 0; s < 400; s++ {
				now = epoch.Add(time.Duration(s) * time.Second)
				if s == 20 {
					ai = 40 // the AI burst ends
				}
				mining := 0.0
				for _, m := range fleet {
					if m.Commanded.Action != policy.ActionPause || now.Sub(m.Commanded.Changed) < 3*time.Second {
						mining += m.RatedKW
					}
				}
				rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: ai + mining, At: now})
				blip := s >= 10 && s < 16 // the sub-meter is silent for 6 s, during the shed
				if !blip {
					v := ai
					if role == policy.RoleMiningLoad {
						v = mining
					}
					rd.Set(policy.Reading{Role: role, Value: v, At: now})
				}
				out = eng.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet})
				if out.Basis.Mode == policy.ModeSafeFloor {
					t.Fatalf("t=%d: a sub-meter blip put the fleet at the safe floor", s)
				}
				applyDecisions(&cfg, fleet, out.Decisions, now)
			}
			// 100 - 5 - 40 = 55 kW budget: the whole 48 kW fleet runs again.
			if got := committedKW(fleet); got != 48 {
				t.Fatalf("fleet not restored: committed %.1f kW, basis %+v", got, out.Basis)
			}
			if out.Basis.Binding != policy.ReasonNone {
				t.Fatalf("binding %s with the whole fleet running", out.Basis.Binding)
			}
		})
	}
}

// TestNoOverShedWhileFirmwareRamps: site meter only, 8 x 3.5 kW, import 53 kW against a 38 kW
// threshold. The first reading sheds five miners; the meter lags the firmware's ramp and reads
// 53 again half a second later: nothing more may be shed. Once the ramp has passed and the
// meter shows the drop, nothing changes either.
func TestNoOverShedWhileFirmwareRamps(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW = 48, 10
	eng, _ := policy.NewEngine(cfg)
	fleet := fleetOf(8, "m", 1, 3.5, 20, 5*time.Second)
	var rd policy.Readings
	step := func(at time.Time, imp float64) policy.Output {
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: imp, At: at})
		out := eng.Step(policy.Input{Now: at, Readings: rd, Fleet: fleet})
		applyDecisions(&cfg, fleet, out.Decisions, at)
		return out
	}
	step(epoch, 53)
	if n := countAction(fleet, policy.ActionPause); n != 5 {
		t.Fatalf("first reading paused %d miners, want 5", n)
	}
	for _, dt := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second} {
		if out := step(epoch.Add(dt), 53); len(out.Decisions) != 0 {
			t.Fatalf("+%s: shed again while the firmware ramps: %v", dt, out.Decisions)
		}
	}
	if out := step(epoch.Add(6*time.Second), 53-17.5); len(out.Decisions) != 0 || countAction(fleet, policy.ActionPause) != 5 {
		t.Fatalf("after the ramp: %v", out.Decisions)
	}
	// Telemetry ends the wait early: a miner reporting its new draw is counted at it (the
	// meter here reads without lag, so telemetry and meter describe the same instant).
	cfg.MeterLag = 0
	eng, _ = policy.NewEngine(cfg)
	fleet = fleetOf(8, "m", 1, 3.5, 20, 30*time.Second)
	rd = policy.Readings{}
	step(epoch, 53)
	for i := range fleet {
		if fleet[i].Commanded.Action == policy.ActionPause {
			fleet[i].MeasuredKW, fleet[i].MeasuredAt = 0.02, epoch.Add(2*time.Second)
		}
	}
	if out := step(epoch.Add(2*time.Second), 53-17.4); out.Basis.InFlightKW != 0 || len(out.Decisions) != 0 {
		t.Fatalf("telemetry did not confirm: %+v %v", out.Basis, out.Decisions)
	}
}

// TestRestoreStrictlyByPriority: low-priority miners paused earlier (their min_pause over
// sooner) must not take the room of higher-priority miners paused later.
func TestRestoreStrictlyByPriority(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW, cfg.RestoreStepKW, cfg.HysteresisKW = 100, 5, 100, 1
	cfg.MinPause, cfg.RestoreInterval = policy.Duration(60*time.Second), policy.Duration(5*time.Second)
	eng, _ := policy.NewEngine(cfg)
	s19 := fleetOf(4, "s19-", 1, 3.25, 30, 5*time.Second)
	s21 := fleetOf(4, "s21-", 2, 3.5, 17.5, 5*time.Second)
	fleet := append(s19, s21...)
	var rd policy.Readings
	now := epoch
	step := func(imp float64) policy.Output {
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: imp, At: now})
		out := eng.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet})
		applyDecisions(&cfg, fleet, out.Decisions, now)
		return out
	}
	// 27 kW of mining; AI climbs: first the S19s go (t=0), then the S21s (t=30).
	step(27 + 80)
	if countAction(fleet[:4], policy.ActionPause) != 4 || countAction(fleet[4:], policy.ActionPause) != 0 {
		t.Fatalf("first shed: %+v", fleet)
	}
	now = now.Add(30 * time.Second)
	step(14 + 95)
	if countAction(fleet, policy.ActionPause) != 8 {
		t.Fatalf("second shed left %d running", 8-countAction(fleet, policy.ActionPause))
	}
	// From t=61 the AI load leaves 15 kW: room for the four S21s (14 kW), not for more. The
	// S19s' min_pause is over first; the S21s' ten seconds later.
	for now = now.Add(31 * time.Second); now.Before(epoch.Add(300 * time.Second)); now = now.Add(time.Second) {
		step(80 + committedKW(fleet))
		if countAction(fleet[:4], policy.ActionPause) < 4 {
			t.Fatalf("t=%s: an S19 took the room kept for the S21s", now.Sub(epoch))
		}
	}
	if countAction(fleet[4:], policy.ActionRun) != 4 {
		t.Fatalf("S21s not restored: %.2f kW committed", committedKW(fleet))
	}
}

// TestUnprovenSessionsGetNoBudget: sessions that authorize and never hash (or miners not yet
// proven) take no budget and never displace proven miners.
func TestUnprovenSessionsGetNoBudget(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW = 100, 3
	eng, _ := policy.NewEngine(cfg)
	fake := fleetOf(30, "fake", 5, 3.5, 10, 5*time.Second) // better priority and efficiency
	for i := range fake {
		fake[i].Proven = false
		fake[i].Commanded = policy.Command{}
	}
	real := fleetOf(6, "real", 1, 3.5, 25, 5*time.Second)
	for i := range real {
		real[i].Commanded = policy.Command{Action: policy.ActionPause, Since: epoch.Add(-time.Hour)}
	}
	fleet := append(fake, real...)
	var rd policy.Readings
	var out policy.Output
	for s := 0; s < 600; s++ {
		now := epoch.Add(time.Duration(s) * time.Second)
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 40 + committedKW(fleet), At: now})
		out = eng.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet})
		for _, d := range out.Decisions {
			if d.MinerID[:4] == "fake" {
				t.Fatalf("decision for an unproven session: %v", d)
			}
		}
		applyDecisions(&cfg, fleet, out.Decisions, now)
	}
	if countAction(fleet[30:], policy.ActionRun) != 6 {
		t.Fatalf("real miners not restored: %+v", out.Basis)
	}
	if out.Basis.FleetKW != 21 {
		t.Fatalf("fleet_kw %.1f counts unproven sessions", out.Basis.FleetKW)
	}
}

// TestOperatorHoldSurvivesRestore: an operator-held miner is paused and stays paused however
// much headroom there is; releasing the hold lets the policy restore it, paced.
func TestOperatorHoldSurvivesRestore(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW, cfg.MinPause = 100, 5, policy.Duration(time.Second)
	eng, _ := policy.NewEngine(cfg)
	fleet := fleetOf(3, "m", 1, 4, 20, 5*time.Second)
	fleet[1].OperatorHold = true
	var rd policy.Readings
	for s := 0; s < 300; s++ {
		now := epoch.Add(time.Duration(s) * time.Second)
		if s == 200 {
			fleet[1].OperatorHold = false
		}
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 10 + committedKW(fleet), At: now})
		out := eng.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet})
		applyDecisions(&cfg, fleet, out.Decisions, now)
		if s == 0 && (len(out.Decisions) != 1 || out.Decisions[0].Reason != policy.ReasonOperatorHold) {
			t.Fatalf("hold: %v", out.Decisions)
		}
		if s < 200 && fleet[1].Commanded.Action != policy.ActionPause {
			t.Fatalf("t=%d: held miner restored by the policy", s)
		}
	}
	if fleet[1].Commanded.Action != policy.ActionRun {
		t.Fatal("released miner never restored")
	}
}

// TestWhySaysTheNumbers: the decision's why names import, limit, non-mining load and budget.
func TestWhySaysTheNumbers(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW = 100, 5
	eng, _ := policy.NewEngine(cfg)
	fleet := fleetOf(4, "m", 1, 5, 20, 5*time.Second)
	var rd policy.Readings
	rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 110, At: epoch})
	out := eng.Step(policy.Input{Now: epoch, Readings: rd, Fleet: fleet})
	if len(out.Decisions) == 0 {
		t.Fatal("no shed")
	}
	want := "site import 110.0 kW (limit 100.0 kW); non-mining load 90.0 kW from site import minus the mining estimate leaves 5.0 kW for mining"
	if got := out.Decisions[0].Why(); got != want {
		t.Fatalf("why %q\nwant %q", got, want)
	}
	if math.IsNaN(out.Basis.OverLimitS) || out.Basis.Mode != policy.ModeOverLimit {
		t.Fatalf("basis %+v", out.Basis)
	}
	rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 105, At: epoch.Add(3 * time.Second)})
	out = eng.Step(policy.Input{Now: epoch.Add(3 * time.Second), Readings: rd, Fleet: fleet})
	if out.Basis.OverLimitS != 3 {
		t.Fatalf("over the limit for %.1f s, want 3", out.Basis.OverLimitS)
	}
}
