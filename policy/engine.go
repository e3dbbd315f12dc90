package policy

import (
	"math"
	"time"
)

// State is the engine's memory between steps. It is a plain value: copying it forks the
// engine, which is what makes Decide pure. The zero State is a fresh start (no meter seen).
type State struct {
	meters       [roleEnd]meterState
	mode         Mode
	faults       RoleSet
	tripUntil    time.Time // under-frequency hold end
	lastRestore  time.Time
	pending      pendingShed
	escalationKW float64
	started      time.Time // the first step
}

// pendingShed is a shed waiting for the meter to show it.
type pendingShed struct {
	active   bool
	deadline time.Time
	expected float64 // kW the meter should drop by
	base     float64 // the confirmation metric when the shed was issued
	from     Role    // which metric: see confirmMetric
}

// Mode returns the mode after the last step.
func (s *State) Mode() Mode { return s.mode }

// EscalationKW returns budget withheld because sheds went unconfirmed.
func (s *State) EscalationKW() float64 { return s.escalationKW }

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

	// 2. Mode.
	if cfg.UnderFrequencyHz > 0 && healthy(RoleFrequency) && b.FrequencyHz < cfg.UnderFrequencyHz {
		if until := now.Add(cfg.UnderFrequencyHold.D()); until.After(st.tripUntil) {
			st.tripUntil = until
		}
	}
	safetyFault := false
	for _, r := range st.faults.Roles() {
		safetyFault = safetyFault || safetyRole(r)
	}
	prevMode := st.mode
	switch {
	case now.Before(st.tripUntil):
		st.mode = ModeTrip
	case safetyFault:
		st.mode = ModeSafeFloor
	default:
		st.mode = ModeNormal
	}
	b.Mode = st.mode
	if st.mode != prevMode {
		out.Notes = append(out.Notes, Note{Kind: NoteModeChanged, Mode: st.mode})
	}

	// 3. Confirm or escalate an outstanding shed.
	confirmPending(cfg, &st, &out, healthy, val, now)

	// 4. Budget: the smallest of every constraint, remembering which one binds.
	b.LimitKW = cfg.ImportLimitKW
	limitReason := ReasonOverBudget
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
	nonMining, from, known := nonMiningLoad(in, healthy, val, now, cfg)
	b.NonMiningKW, b.NonMiningFrom = nonMining, from
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
	if st.escalationKW > 0 && known {
		lower(b.LimitKW-nonMining-cfg.MarginKW-st.escalationKW, ReasonEscalation)
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
	b.Binding = binding
	b.BudgetKW = economic
	b.EscalationKW = st.escalationKW

	// 5. Allocate.
	a := allocator{cfg: cfg, st: &st, in: in, out: &out, buf: buf, now: now}
	a.run(safety, safetyBinding, economic, b.LimitKW-cfg.MarginKW-b.ImportKW, healthy(RoleSiteImport))
	b.CommittedKW = a.committed
	for i := range out.Decisions {
		out.Decisions[i].Basis = *b
	}

	// 6. Register new sheds for confirmation. Trims smaller than the hysteresis band are below
	// what the meter can resolve against load noise; tracking them would keep postponing the
	// confirmation of the shed that matters.
	if a.shedKW >= max(cfg.HysteresisKW, 1e-6) {
		m, src, ok := confirmMetric(healthy, val)
		if src == RoleMiningLoad || src == RoleAILoad {
			// The metric measures mining itself; a restore still ramping up must not count
			// against this shed, so start from at least what was commanded.
			m = max(m, a.startCommitted)
		}
		switch {
		case !ok:
		case st.pending.active && st.pending.from == src:
			st.pending.expected += a.shedKW
			st.pending.deadline = now.Add(cfg.ConfirmAfter.D())
		default:
			st.pending = pendingShed{active: true, deadline: now.Add(cfg.ConfirmAfter.D()),
				expected: a.shedKW, base: m, from: src}
		}
	}
	return st, out
}

// nonMiningLoad estimates the load mining competes with, preferring measurement.
func nonMiningLoad(in *Input, healthy func(Role) bool, val func(Role) float64, now time.Time, cfg *Config) (kw float64, from Role, ok bool) {
	if !healthy(RoleSiteImport) {
		if healthy(RoleAILoad) {
			return val(RoleAILoad), RoleAILoad, true
		}
		return 0, 0, false
	}
	imp := val(RoleSiteImport)
	switch {
	case healthy(RoleMiningLoad):
		return imp - val(RoleMiningLoad), RoleMiningLoad, true
	case healthy(RoleAILoad):
		return val(RoleAILoad), RoleAILoad, true
	}
	var est float64
	for i := range in.Fleet {
		m := &in.Fleet[i]
		if !m.MeasuredAt.IsZero() && now.Sub(m.MeasuredAt) <= cfg.StaleAfter.D() && finite(m.MeasuredKW) && m.MeasuredKW >= 0 {
			est += m.MeasuredKW
		} else {
			est += commandedKW(m)
		}
	}
	return imp - est, RoleSiteImport, true
}

// confirmMetric is the meter quantity a shed should lower: the mining sub-meter, else import
// minus AI load, else import alone (which an AI rise can mask; that errs towards escalating).
func confirmMetric(healthy func(Role) bool, val func(Role) float64) (float64, Role, bool) {
	switch {
	case healthy(RoleMiningLoad):
		return val(RoleMiningLoad), RoleMiningLoad, true
	case healthy(RoleSiteImport) && healthy(RoleAILoad):
		return val(RoleSiteImport) - val(RoleAILoad), RoleAILoad, true
	case healthy(RoleSiteImport):
		return val(RoleSiteImport), RoleSiteImport, true
	}
	return 0, 0, false
}

func confirmPending(cfg *Config, st *State, out *Output, healthy func(Role) bool, val func(Role) float64, now time.Time) {
	p := &st.pending
	if !p.active || now.Before(p.deadline) {
		return
	}
	m, src, ok := confirmMetric(healthy, val)
	if !ok || src != p.from {
		return // cannot judge now; the safe floor covers a broken meter
	}
	observed := p.base - m
	if observed >= cfg.ConfirmRatio*p.expected {
		out.Notes = append(out.Notes, Note{Kind: NoteShedConfirmed, KW: observed})
	} else {
		deficit := p.expected - max(observed, 0)
		st.escalationKW = min(st.escalationKW+deficit, cfg.ImportLimitKW)
		out.Notes = append(out.Notes, Note{Kind: NoteEscalated, KW: deficit})
	}
	*p = pendingShed{}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
