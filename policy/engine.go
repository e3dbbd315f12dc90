package policy

import (
	"math"
	"time"
)

// State is the engine's memory between steps. It is a plain value: copying it forks the
// engine, which is what makes Decide pure. The zero State is a fresh start (no meter seen).
type State struct {
	meters      [roleEnd]meterState
	mode        Mode
	faults      RoleSet
	tripUntil   time.Time // under-frequency hold end
	lastRestore time.Time
	// The highest non-mining load seen in the current and the previous restore_interval.
	peakCur, peakPrev float64
	peakStart         time.Time
	overSince         time.Time // when the site meter first read above the limit; zero when within
	unconfirmed       bool      // the last step counted unconfirmed draw
	started           time.Time // the first step
}

// Mode returns the mode after the last step.
func (s *State) Mode() Mode { return s.mode }

// Engine wraps Decide with its state and reusable buffers. It is not safe for concurrent use;
// the Runner serialises calls.
type Engine struct {
	cfg   Config
	state State
	buf   allocBuf
}

// NewEngine validates cfg and returns an engine at the zero State.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg}, nil
}

// Step advances the engine by one input.
func (e *Engine) Step(in Input) Output {
	var out Output
	e.state, out = decide(&e.cfg, e.state, &in, &e.buf)
	return out
}

// State returns a copy of the engine's state.
func (e *Engine) State() State { return e.state }

// Decide is the engine as a pure function: the same (cfg, st, in) always yields the same
// result, and neither st nor in is modified. cfg must have passed Validate.
func Decide(cfg *Config, st State, in Input) (State, Output) {
	var buf allocBuf
	return decide(cfg, st, &in, &buf)
}

func decide(cfg *Config, st State, in *Input, buf *allocBuf) (State, Output) {
	now := in.Now
	var out Output
	b := &out.Basis
	b.At = now

	// At start-up the site meter has not answered yet: wait for it as long as a silent meter
	// is tolerated anyway (stale_after), changing nothing, instead of shedding the whole fleet
	// on every restart. Later silence is a fault as usual.
	if st.started.IsZero() {
		st.started = now
	}
	startup := now.Sub(st.started) < cfg.StaleAfter.D()

	// 1. Meters: fold in new readings, then judge health at now.
	prevFaults := st.faults
	st.faults = 0
	for _, r := range Roles() {
		ms := &st.meters[r]
		rd, ok := in.Readings.Get(r)
		ms.observe(cfg, r, rd, ok, now)
		f := ms.fault(cfg, now)
		// Only the site meter is required (after start-up); others count once they have
		// reported.
		if f == FaultMissing && (r != RoleSiteImport || startup) {
			continue
		}
		if f != FaultNone {
			st.faults.add(r)
			if !prevFaults.Has(r) {
				out.Notes = append(out.Notes, Note{Kind: NoteMeterFault, Role: r, Fault: f})
			}
		} else if prevFaults.Has(r) {
			out.Notes = append(out.Notes, Note{Kind: NoteMeterRecovered, Role: r})
		}
	}
	b.Faults = st.faults
	if startup && !st.meters[RoleSiteImport].seen {
		b.Mode = st.mode
		return st, out
	}
	healthy := func(r Role) bool { return st.meters[r].seen && !st.faults.Has(r) }
	val := func(r Role) float64 {
		if healthy(r) {
			return st.meters[r].good.Value
		}
		return 0
	}
	b.ImportKW, b.AILoadKW, b.MiningLoadKW = val(RoleSiteImport), val(RoleAILoad), val(RoleMiningLoad)
	b.FrequencyHz, b.Price = val(RoleFrequency), val(RolePrice)

	// 2. The effective limit: a demand-response event may lower it.
	b.LimitKW = cfg.ImportLimitKW
	limitReason := ReasonImportLimit
	for _, ev := range in.Manual.DR {
		if !now.Before(ev.Start.Add(-cfg.DRLead.D())) && now.Before(ev.End) {
			t := ev.TargetKW
			if math.IsNaN(t) || t < 0 {
				t = 0 // an unreadable target must not mean "no target"
			}
			if t < b.LimitKW {
				b.LimitKW, limitReason = t, ReasonDemandResponse
			}
		}
	}

	// 3. Mode. Only the site meter (and the frequency meter when the trip is armed) is
	// safety-critical: a sub-meter refines what the site meter says and its loss changes
	// nothing the site meter does not already bound.
	if cfg.UnderFrequencyHz > 0 && healthy(RoleFrequency) && b.FrequencyHz < cfg.UnderFrequencyHz {
		if until := now.Add(cfg.UnderFrequencyHold.D()); until.After(st.tripUntil) {
			st.tripUntil = until
		}
	}
	safetyFault := st.faults.Has(RoleSiteImport) || (cfg.UnderFrequencyHz > 0 && st.faults.Has(RoleFrequency))
	over := healthy(RoleSiteImport) && b.ImportKW > b.LimitKW
	if !over {
		st.overSince = time.Time{}
	} else if st.overSince.IsZero() {
		st.overSince = now
	}
	prevMode := st.mode
	switch {
	case now.Before(st.tripUntil):
		st.mode = ModeTrip
	case safetyFault:
		st.mode = ModeSafeFloor
	case over:
		st.mode = ModeOverLimit
		b.OverLimitS = now.Sub(st.overSince).Seconds()
	default:
		st.mode = ModeNormal
	}
	b.Mode = st.mode
	if st.mode != prevMode {
		out.Notes = append(out.Notes, Note{Kind: NoteModeChanged, Mode: st.mode})
	}

	// 4. What the fleet draws now, as best known, and the load it competes with.
	a := allocator{cfg: cfg, st: &st, in: in, out: &out, buf: buf, now: now}
	meterAt := now
	if healthy(RoleSiteImport) {
		if at := st.meters[RoleSiteImport].good.At.Add(-cfg.MeterLag.D()); at.Before(now) {
			meterAt = at
		}
	}
	a.estimate(meterAt)
	b.MiningEstKW, b.InFlightKW, b.UnconfirmedKW = a.est, a.inflight, a.stuck
	if a.stuck > 0 && !st.unconfirmed {
		out.Notes = append(out.Notes, Note{Kind: NoteShedUnconfirmed, KW: a.stuck})
	} else if a.stuck == 0 && st.unconfirmed {
		out.Notes = append(out.Notes, Note{Kind: NoteShedConfirmed})
	}
	st.unconfirmed = a.stuck > 0
	// A mining sub-meter refines the estimate only at rest: while commands ramp, meters that
	// lag differently disagree about the same moment, and the estimate (which counts a shed
	// as drawing until it shows) is the one consistent with the site meter.
	sub := healthy
	if a.settling {
		sub = func(r Role) bool { return r != RoleMiningLoad && healthy(r) }
	}
	nonMining, from, known := nonMiningLoad(cfg, sub, val, a.est)
	b.NonMiningKW, b.NonMiningFrom = nonMining, from

	// 5. Budget: the smallest of every constraint, remembering which one binds.
	safety, binding := math.Inf(1), ReasonNone
	lower := func(v float64, r Reason) {
		if math.IsNaN(v) {
			v = 0
		}
		if v < safety {
			safety, binding = v, r
		}
	}
	if known {
		lower(b.LimitKW-nonMining-cfg.MarginKW, limitReason)
	}
	if !in.Manual.CapUntil.IsZero() && now.Before(in.Manual.CapUntil) {
		lower(in.Manual.CapKW, ReasonManualCap)
	}
	switch st.mode {
	case ModeTrip:
		lower(-1, ReasonUnderFrequency)
	case ModeSafeFloor:
		lower(cfg.SafeFloorKW, ReasonSafeFloor)
	}
	safety = max(safety, 0)
	safetyBinding := binding
	economic := safety
	if cfg.StrikePrice > 0 && healthy(RolePrice) && b.Price > cfg.StrikePrice {
		economic = 0
		if safety > 0 {
			binding = ReasonPrice
		}
	}
	b.BudgetKW = economic

	// Restores answer the highest non-mining load of the last restore_interval, not the
	// latest: load that swings faster than that is not followed back up into its next peak.
	restoreBudget := economic
	if known {
		switch w := cfg.RestoreInterval.D(); {
		case st.peakStart.IsZero() || now.Sub(st.peakStart) >= 2*w:
			st.peakCur, st.peakPrev, st.peakStart = nonMining, nonMining, now
		case now.Sub(st.peakStart) >= w:
			st.peakPrev, st.peakCur, st.peakStart = st.peakCur, nonMining, st.peakStart.Add(w)
		}
		st.peakCur = max(st.peakCur, nonMining)
		restoreBudget = min(economic, max(b.LimitKW-max(st.peakCur, st.peakPrev)-cfg.MarginKW, 0))
	}
	// A shed still ramping, counted as drawing, may already be gone from the meter: that
	// much of the room is not known to be there until its ramp ends or it reports.
	restoreBudget = max(restoreBudget-a.rampShed, 0)

	// 6. Allocate.
	a.run(safety, safetyBinding, economic, restoreBudget)
	b.CommittedKW = a.committed
	b.FleetKW = a.fleetKW
	if a.fleetKW <= economic-cfg.HysteresisKW && binding != ReasonPrice {
		binding = ReasonNone // the whole proven fleet fits, with room to spare: nothing limits mining
	}
	b.Binding = binding
	for i := range out.Decisions {
		out.Decisions[i].Basis = *b
	}
	return st, out
}

// nonMiningLoad is the load mining competes with. The site meter is the binding truth: the
// site imports what it imports, and whatever the fleet estimate does not explain is other
// load, metered or not. A mining sub-meter may lower the mining estimate (more left for
// other load, never less), and an AI meter may raise the result, never lower it.
func nonMiningLoad(cfg *Config, healthy func(Role) bool, val func(Role) float64, est float64) (kw float64, from Role, ok bool) {
	if !healthy(RoleSiteImport) {
		if healthy(RoleAILoad) {
			return val(RoleAILoad), RoleAILoad, true
		}
		return 0, 0, false
	}
	// The sub-meter counts when it reads meaningfully less than the estimate (beyond the
	// hysteresis band): the lower of two noisy values is biased low.
	mining, from := est, RoleSiteImport
	if healthy(RoleMiningLoad) && val(RoleMiningLoad) < mining-cfg.HysteresisKW {
		mining, from = val(RoleMiningLoad), RoleMiningLoad
	}
	kw = val(RoleSiteImport) - mining
	if !cfg.AllowExport {
		kw = max(kw, 0)
	}
	if healthy(RoleAILoad) && val(RoleAILoad) > kw {
		kw, from = val(RoleAILoad), RoleAILoad
	}
	return kw, from, true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
