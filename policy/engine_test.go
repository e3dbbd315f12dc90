package policy_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// site is a small hand-checkable setup: limit 100 kW, margin 10, four miners.
type site struct {
	t     *testing.T
	cfg   policy.Config
	eng   *policy.Engine
	fleet []policy.Miner
	now   time.Time
	rd    policy.Readings
	man   policy.Manual
}

func newSite(t *testing.T, mut func(*policy.Config)) *site {
	t.Helper()
	c := policy.DefaultConfig()
	c.ImportLimitKW, c.MarginKW, c.SafeFloorKW = 100, 10, 5
	c.RestoreStepKW, c.RestoreInterval, c.HysteresisKW = 10, policy.Duration(30*time.Second), 1
	c.MinRun, c.MinPause = policy.Duration(2*time.Minute), policy.Duration(time.Minute)
	c.ConfirmAfter, c.MaxJumpKW = policy.Duration(20*time.Second), 60
	c.UnderFrequencyHz, c.UnderFrequencyHold = 59.7, policy.Duration(time.Minute)
	if mut != nil {
		mut(&c)
	}
	eng, err := policy.NewEngine(c)
	if err != nil {
		t.Fatal(err)
	}
	old := epoch.Add(-time.Hour)
	mk := func(id, group string, prio int, kw, eff float64, thr policy.ThrottleRange) policy.Miner {
		return policy.Miner{ID: id, Group: group, Priority: prio, RatedKW: kw, EfficiencyJTH: eff, Throttle: thr,
			Proven: true, Commanded: policy.Command{Action: policy.ActionRun, Since: old}}
	}
	return &site{t: t, cfg: c, eng: eng, now: epoch, fleet: []policy.Miner{
		mk("a-eff", "new", 2, 10, 15, policy.ThrottleRange{MinKW: 4, MaxKW: 10}),
		mk("b-mid", "new", 2, 10, 20, policy.ThrottleRange{}),
		mk("c-old", "old", 1, 10, 30, policy.ThrottleRange{}),
		mk("d-old", "old", 1, 10, 35, policy.ThrottleRange{MinKW: 3, MaxKW: 10}),
	}}
}

// step feeds readings (role, value) at the current time, steps, and applies the decisions to
// the fleet the way the Runner does.
func (s *site) step(vals ...any) policy.Output {
	s.t.Helper()
	for i := 0; i < len(vals); i += 2 {
		s.rd.Set(policy.Reading{Role: vals[i].(policy.Role), Value: vals[i+1].(float64), At: s.now})
	}
	out := s.eng.Step(policy.Input{Now: s.now, Readings: s.rd, Fleet: s.fleet, Manual: s.man})
	applyDecisions(&s.cfg, s.fleet, out.Decisions, s.now)
	return out
}

// applyDecisions updates the fleet's commands the way the Runner does.
func applyDecisions(cfg *policy.Config, fleet []policy.Miner, ds []policy.Decision, now time.Time) {
	for _, d := range ds {
		for i := range fleet {
			m := &fleet[i]
			if m.ID != d.MinerID {
				continue
			}
			since := m.Commanded.Since
			if d.Action != m.Commanded.Action || since.IsZero() {
				since = now
			}
			from, _ := policy.DrawKW(cfg, m, now)
			m.Commanded = policy.Command{Action: d.Action, TargetKW: d.TargetKW, Since: since, Changed: now, FromKW: from}
		}
	}
}

func (s *site) advance(d time.Duration) { s.now = s.now.Add(d) }

func (s *site) committed() float64 {
	var kw float64
	for _, m := range s.fleet {
		switch m.Commanded.Action {
		case policy.ActionRun, policy.ActionUnknown:
			kw += m.RatedKW
		case policy.ActionThrottle:
			kw += m.Commanded.TargetKW
		}
	}
	return kw
}

func (s *site) action(id string) policy.Command {
	for _, m := range s.fleet {
		if m.ID == id {
			return m.Commanded
		}
	}
	s.t.Fatalf("no miner %s", id)
	return policy.Command{}
}

func reasons(out policy.Output) map[policy.Reason]int {
	m := map[policy.Reason]int{}
	for _, d := range out.Decisions {
		m[d.Reason]++
	}
	return m
}

func TestShedLeastImportantFirstAndThrottleMarginal(t *testing.T) {
	s := newSite(t, nil)
	// Non-mining 60 (import 100 - mining 40): budget 100-60-10 = 30 of 40 committed.
	out := s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0)
	if got := s.committed(); math.Abs(got-30) > 1e-9 {
		t.Fatalf("committed %.2f, want 30 (decisions %v)", got, out.Decisions)
	}
	// d-old: priority 1, least efficient and throttleable: it absorbs the whole 10 kW shed.
	if c := s.action("d-old"); c.Action != policy.ActionPause {
		t.Fatalf("d-old %v, want pause (its 10 kW is exactly the need)", c)
	}
	if out.Basis.NonMiningFrom != policy.RoleSiteImport || out.Basis.NonMiningKW != 60 || out.Basis.BudgetKW != 30 {
		t.Fatalf("basis %+v", out.Basis)
	}
	// AI rises 7 more: need 7, c-old (on/off) pauses, then nothing else.
	s.advance(21 * time.Second) // past the last shed's confirm_after: the sub-meter counts again
	s.step(policy.RoleSiteImport, 97.0, policy.RoleMiningLoad, 30.0)
	if c := s.action("c-old"); c.Action != policy.ActionPause {
		t.Fatalf("c-old %v, want pause", c)
	}
	// Non-mining 73: budget 17, need 3. b-mid is last in run order and on/off only, so it
	// pauses whole (the order is strict: a more important miner is not cut instead).
	s.advance(21 * time.Second) // past the last shed's confirm_after: the sub-meter counts again
	out = s.step(policy.RoleSiteImport, 93.0, policy.RoleMiningLoad, 20.0)
	if c := s.action("b-mid"); c.Action != policy.ActionPause {
		t.Fatalf("b-mid %v, want pause; %v", c, out.Decisions)
	}
	for _, d := range out.Decisions {
		if d.Reason != policy.ReasonImportLimit || !d.Shed() {
			t.Fatalf("decision %v", d)
		}
	}
	// A cut inside the throttle range of the marginal miner throttles it.
	s.advance(21 * time.Second)                                      // past the last shed's confirm_after: the sub-meter counts again
	s.step(policy.RoleSiteImport, 90.0, policy.RoleMiningLoad, 10.0) // non-mining 80, budget 10: no change
	s.advance(21 * time.Second)                                      // past the last shed's confirm_after: the sub-meter counts again
	s.step(policy.RoleSiteImport, 94.0, policy.RoleMiningLoad, 10.0) // non-mining 84, budget 6
	if c := s.action("a-eff"); c.Action != policy.ActionThrottle || math.Abs(c.TargetKW-6) > 1e-9 {
		t.Fatalf("a-eff %v, want throttle 6 kW", c)
	}
}

func TestShedIgnoresMinRunRestoreRespectsMinPauseAndPacing(t *testing.T) {
	s := newSite(t, nil)
	for i := range s.fleet {
		s.fleet[i].Commanded.Since = s.now // all just started: inside min_run
		s.fleet[i].Ramp = 5 * time.Second  // and their firmware reaches a new power in 5 s
	}
	s.step(policy.RoleSiteImport, 110.0, policy.RoleMiningLoad, 40.0) // budget 20
	if got := s.committed(); got != 20 {
		t.Fatalf("safety shed must ignore min_run: committed %.1f", got)
	}
	// Load falls back: headroom 20 kW, but paused miners wait for min_pause.
	s.advance(30 * time.Second)
	if out := s.step(policy.RoleSiteImport, 70.0, policy.RoleMiningLoad, 20.0); len(out.Decisions) != 0 {
		t.Fatalf("restored inside min_pause: %v", out.Decisions)
	}
	s.advance(31 * time.Second)
	out := s.step(policy.RoleSiteImport, 70.0, policy.RoleMiningLoad, 20.0)
	if got := s.committed(); got != 30 || reasons(out)[policy.ReasonRestore] != 1 {
		t.Fatalf("one restore step of 10 kW expected, committed %.1f, %v", got, out.Decisions)
	}
	// The next step waits for restore_interval.
	s.advance(10 * time.Second)
	if out := s.step(policy.RoleSiteImport, 80.0, policy.RoleMiningLoad, 30.0); len(out.Decisions) != 0 {
		t.Fatalf("restore before restore_interval: %v", out.Decisions)
	}
	// Hysteresis: headroom 9.5 (< step + band) after the interval gives a throttled start.
	s.advance(30 * time.Second)
	s.step(policy.RoleSiteImport, 80.0, policy.RoleMiningLoad, 30.0) // budget 40, room 9
	if got := s.committed(); got != 39 {
		t.Fatalf("committed %.2f, want 39 (budget 40 minus 1 kW hysteresis)", got)
	}
}

func TestPriceShedRespectsMinRun(t *testing.T) {
	s := newSite(t, func(c *policy.Config) { c.StrikePrice = 100 })
	s.fleet[0].Commanded.Since = s.now.Add(-time.Minute) // a-eff inside min_run
	out := s.step(policy.RoleSiteImport, 60.0, policy.RoleMiningLoad, 40.0, policy.RolePrice, 250.0)
	if s.action("a-eff").Action != policy.ActionRun {
		t.Fatal("economic shed paused a miner inside min_run")
	}
	if got := s.committed(); got != 10 || out.Basis.Binding != policy.ReasonPrice {
		t.Fatalf("committed %.1f binding %s", got, out.Basis.Binding)
	}
}

func TestMeterFaultsHoldSafeFloor(t *testing.T) {
	cases := []struct {
		name  string
		feed  func(s *site) policy.Output
		fault policy.Fault
	}{
		{"missing", func(s *site) policy.Output {
			s.step() // start-up: the site meter is given stale_after to answer
			s.advance(6 * time.Second)
			return s.step()
		}, policy.FaultMissing},
		{"stale", func(s *site) policy.Output {
			s.step(policy.RoleSiteImport, 60.0)
			s.advance(6 * time.Second)
			return s.step()
		}, policy.FaultStale},
		{"nan", func(s *site) policy.Output {
			s.step(policy.RoleSiteImport, 60.0)
			s.advance(time.Second)
			return s.step(policy.RoleSiteImport, math.NaN())
		}, policy.FaultNonsense},
		{"negative", func(s *site) policy.Output {
			s.step(policy.RoleSiteImport, 60.0)
			s.advance(time.Second)
			return s.step(policy.RoleSiteImport, -5.0)
		}, policy.FaultNonsense},
		{"jump", func(s *site) policy.Output {
			s.step(policy.RoleSiteImport, 60.0)
			s.advance(time.Second)
			return s.step(policy.RoleSiteImport, 121.0)
		}, policy.FaultJump},
		{"frequency nonsense", func(s *site) policy.Output {
			return s.step(policy.RoleSiteImport, 60.0, policy.RoleFrequency, 0.0)
		}, policy.FaultNonsense},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, nil)
			out := tc.feed(s)
			if out.Basis.Mode != policy.ModeSafeFloor || s.committed() > s.cfg.SafeFloorKW {
				t.Fatalf("mode %s committed %.1f", out.Basis.Mode, s.committed())
			}
			var saw bool
			for _, n := range out.Notes {
				saw = saw || (n.Kind == policy.NoteMeterFault && n.Fault == tc.fault)
			}
			if !saw {
				t.Fatalf("no %s fault note: %+v", tc.fault, out.Notes)
			}
		})
	}
}

func TestJumpConfirmedBySecondReading(t *testing.T) {
	s := newSite(t, nil)
	s.step(policy.RoleSiteImport, 40.0)
	s.advance(time.Second)
	if out := s.step(policy.RoleSiteImport, 105.0); out.Basis.Mode != policy.ModeSafeFloor {
		t.Fatalf("jump accepted at once: %s", out.Basis.Mode)
	}
	s.advance(time.Second)
	out := s.step(policy.RoleSiteImport, 106.0)
	if out.Basis.Mode != policy.ModeOverLimit || out.Basis.ImportKW != 106 {
		t.Fatalf("confirmed jump not accepted: %+v", out.Basis)
	}
}

func TestPriceMeterFaultIsNotSafetyFault(t *testing.T) {
	s := newSite(t, func(c *policy.Config) { c.StrikePrice = 100 })
	s.step(policy.RoleSiteImport, 60.0, policy.RolePrice, 50.0)
	s.advance(6 * time.Second)
	out := s.step(policy.RoleSiteImport, 60.0)
	if out.Basis.Mode != policy.ModeNormal || !out.Basis.Faults.Has(policy.RolePrice) {
		t.Fatalf("mode %s faults %v", out.Basis.Mode, out.Basis.Faults.Roles())
	}
}

// TestUnconfirmedShedEscalates: a miner that acknowledged its pause but keeps drawing is
// counted as drawing again once its ramp (at most confirm_after) has passed, and the next
// miners shed for it; never before.
func TestUnconfirmedShedEscalates(t *testing.T) {
	s := newSite(t, nil)
	s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0) // budget 30: d-old pauses
	if s.action("d-old").Action != policy.ActionPause || s.committed() != 30 {
		t.Fatalf("first shed: committed %.1f", s.committed())
	}
	// Within confirm_after the meters still show the old draw: nothing more is shed.
	s.advance(10 * time.Second)
	if out := s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0); len(out.Decisions) != 0 || out.Basis.InFlightKW != 10 {
		t.Fatalf("shed again while the first was ramping: %v (in flight %.1f)", out.Decisions, out.Basis.InFlightKW)
	}
	// Past confirm_after the meter still shows it: d-old's draw is other load now, c-old sheds.
	s.advance(11 * time.Second)
	out := s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0)
	if s.action("c-old").Action != policy.ActionPause || reasons(out)[policy.ReasonImportLimit] != 1 || s.committed() != 20 {
		t.Fatalf("no escalation: decisions %v committed %.1f basis %+v", out.Decisions, s.committed(), out.Basis)
	}

	// With telemetry the engine names the culprit: d-old reports 10 kW after its ramp.
	s = newSite(t, nil)
	s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0)
	s.advance(21 * time.Second)
	s.fleet[3].MeasuredKW, s.fleet[3].MeasuredAt = 10, s.now
	out = s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0)
	var note bool
	for _, n := range out.Notes {
		note = note || (n.Kind == policy.NoteShedUnconfirmed && n.KW == 10)
	}
	if !note || out.Basis.UnconfirmedKW != 10 || s.action("c-old").Action != policy.ActionPause {
		t.Fatalf("telemetry: notes %+v basis %+v decisions %v", out.Notes, out.Basis, out.Decisions)
	}
	// A shed the meter shows needs nothing more.
	s = newSite(t, nil)
	s.step(policy.RoleSiteImport, 100.0, policy.RoleMiningLoad, 40.0)
	s.advance(21 * time.Second)
	if out = s.step(policy.RoleSiteImport, 90.0, policy.RoleMiningLoad, 30.0); len(out.Decisions) != 0 {
		t.Fatalf("confirmed shed followed by %v", out.Decisions)
	}
}

func TestUnderFrequencyTripsAndHolds(t *testing.T) {
	s := newSite(t, nil)
	s.step(policy.RoleSiteImport, 60.0, policy.RoleMiningLoad, 40.0, policy.RoleFrequency, 60.0)
	s.advance(time.Second)
	out := s.step(policy.RoleSiteImport, 60.0, policy.RoleMiningLoad, 40.0, policy.RoleFrequency, 59.6)
	if s.committed() != 0 || reasons(out)[policy.ReasonUnderFrequency] != 4 || out.Basis.Mode != policy.ModeTrip {
		t.Fatalf("trip: committed %.1f %v", s.committed(), out.Decisions)
	}
	s.advance(59 * time.Second)
	if out := s.step(policy.RoleSiteImport, 20.0, policy.RoleMiningLoad, 0.0, policy.RoleFrequency, 60.0); out.Basis.Mode != policy.ModeTrip || len(out.Decisions) != 0 {
		t.Fatalf("hold ended early: %s %v", out.Basis.Mode, out.Decisions)
	}
	s.advance(2 * time.Second)
	if out := s.step(policy.RoleSiteImport, 20.0, policy.RoleMiningLoad, 0.0, policy.RoleFrequency, 60.0); out.Basis.Mode != policy.ModeNormal || reasons(out)[policy.ReasonRestore] == 0 {
		t.Fatalf("no restore after hold: %s %v", out.Basis.Mode, out.Decisions)
	}
}

func TestManualCapDRAndPausedGroup(t *testing.T) {
	s := newSite(t, nil)
	s.man.CapKW, s.man.CapUntil = 25, s.now.Add(time.Minute)
	out := s.step(policy.RoleSiteImport, 60.0, policy.RoleMiningLoad, 40.0)
	// Need 15: d-old (throttle floor 3 kW) cannot give 15, so it pauses; c-old (on/off) pauses
	// too. Whole miners overshoot to 20; a restore later fills the gap.
	if s.committed() != 20 || out.Basis.Binding != policy.ReasonManualCap || s.action("c-old").Action != policy.ActionPause {
		t.Fatalf("cap: %.1f %s", s.committed(), out.Basis.Binding)
	}

	s = newSite(t, func(c *policy.Config) { c.DRLead = policy.Duration(10 * time.Second) })
	s.man.DR = []policy.DREvent{{ID: "e1", Start: s.now.Add(5 * time.Second), End: s.now.Add(time.Hour), TargetKW: 70}}
	out = s.step(policy.RoleSiteImport, 60.0, policy.RoleMiningLoad, 40.0) // limit 70: budget 70-20-10 = 40
	if out.Basis.LimitKW != 70 || s.committed() != 40 {
		t.Fatalf("dr: limit %.1f committed %.1f", out.Basis.LimitKW, s.committed())
	}
	s.advance(time.Second)
	s.step(policy.RoleSiteImport, 70.0, policy.RoleMiningLoad, 40.0) // non-mining 30: budget 30
	if s.committed() != 30 {
		t.Fatalf("dr: committed %.1f", s.committed())
	}

	s = newSite(t, nil)
	s.man.PausedGroups = []string{"new"}
	out = s.step(policy.RoleSiteImport, 40.0, policy.RoleMiningLoad, 40.0)
	if s.action("a-eff").Action != policy.ActionPause || s.action("b-mid").Action != policy.ActionPause || reasons(out)[policy.ReasonGroupPaused] != 2 {
		t.Fatalf("paused group still runs: %v", out.Decisions)
	}
	if s.action("c-old").Action != policy.ActionRun {
		t.Fatal("other group paused")
	}
}

func TestBudgetFromAILoadAndEstimate(t *testing.T) {
	s := newSite(t, nil)
	out := s.step(policy.RoleSiteImport, 90.0, policy.RoleAILoad, 55.0)
	if out.Basis.NonMiningFrom != policy.RoleAILoad || out.Basis.BudgetKW != 35 {
		t.Fatalf("basis %+v", out.Basis)
	}
	s = newSite(t, nil)
	s.fleet[1].MeasuredKW, s.fleet[1].MeasuredAt = 8, s.now // b-mid measured below rating
	out = s.step(policy.RoleSiteImport, 90.0)
	// estimate 10+8+10+10 = 38: non-mining 52, budget 38
	if out.Basis.NonMiningFrom != policy.RoleSiteImport || out.Basis.NonMiningKW != 52 || out.Basis.BudgetKW != 38 {
		t.Fatalf("basis %+v", out.Basis)
	}
}

func TestUnknownMinersAdoptedOrShed(t *testing.T) {
	s := newSite(t, nil)
	for i := range s.fleet {
		s.fleet[i].Commanded = policy.Command{}
	}
	out := s.step(policy.RoleSiteImport, 95.0, policy.RoleAILoad, 55.0) // budget 35
	r := reasons(out)
	if r[policy.ReasonAdopt] != 3 || r[policy.ReasonImportLimit] != 1 || s.committed() != 35 {
		t.Fatalf("decisions %v committed %.1f", out.Decisions, s.committed())
	}
}

func TestBadInputsNoPanicAndFailSafe(t *testing.T) {
	s := newSite(t, nil)
	s.fleet = append(s.fleet, policy.Miner{ID: "nan", RatedKW: math.NaN(), EfficiencyJTH: 20, Proven: true, Commanded: policy.Command{Action: policy.ActionRun}},
		policy.Miner{ID: "inf", RatedKW: 3, EfficiencyJTH: math.Inf(1), Proven: true})
	s.man.DR = []policy.DREvent{{Start: s.now.Add(-time.Second), End: s.now.Add(time.Hour), TargetKW: math.NaN()}}
	out := s.step(policy.RoleSiteImport, 60.0, policy.RoleMiningLoad, 40.0)
	if s.committed() != 0 || reasons(out)[policy.ReasonBadMiner] != 2 {
		t.Fatalf("NaN DR target must mean zero budget and bad miners pause: %v", out.Decisions)
	}
}

func TestDecideIsPure(t *testing.T) {
	s := newSite(t, nil)
	var rd policy.Readings
	rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: s.now})
	rd.Set(policy.Reading{Role: policy.RoleMiningLoad, Value: 40, At: s.now})
	in := policy.Input{Now: s.now, Readings: rd, Fleet: s.fleet}
	before := append([]policy.Miner(nil), s.fleet...)
	st1, out1 := policy.Decide(&s.cfg, policy.State{}, in)
	st2, out2 := policy.Decide(&s.cfg, policy.State{}, in)
	if !reflect.DeepEqual(out1, out2) || !reflect.DeepEqual(st1, st2) {
		t.Fatal("same input, different output")
	}
	if !reflect.DeepEqual(before, s.fleet) {
		t.Fatal("Decide modified its input")
	}
	if len(out1.Decisions) == 0 {
		t.Fatal("expected a shed")
	}
}

// TestStartupWaitsForTheSiteMeter: right after a (re)start the site meter is given stale_after
// to answer before its silence counts; meanwhile nothing is shed or released.
func TestStartupWaitsForTheSiteMeter(t *testing.T) {
	s := newSite(t, nil)
	before := s.committed()
	if out := s.step(); len(out.Decisions) != 0 || s.committed() != before {
		t.Fatalf("start-up without a reading decided %d changes", len(out.Decisions))
	}
	s.advance(time.Second)
	if out := s.step(); len(out.Decisions) != 0 {
		t.Fatalf("still within stale_after: %d decisions", len(out.Decisions))
	}
	s.advance(6 * time.Second)
	if out := s.step(); out.Basis.Mode != policy.ModeSafeFloor || s.committed() > s.cfg.SafeFloorKW {
		t.Fatalf("a site meter silent past stale_after: mode %s committed %.1f", out.Basis.Mode, s.committed())
	}
}
