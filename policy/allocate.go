package policy

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// allocBuf holds per-step scratch space an Engine reuses between steps.
type allocBuf struct {
	keys    []sortKey
	order   []int32
	next    []float64
	act     []Action
	why     []Reason
	touched []int32
	mark    []bool
}

// sortKey is one miner's place in the run order.
type sortKey struct {
	prio int
	eff  float64
	id   string
	idx  int32
}

func (b *allocBuf) reset(n int) {
	b.order = b.order[:0]
	b.touched = b.touched[:0]
	b.next = grow(b.next, n)
	b.act = grow(b.act, n)
	b.why = grow(b.why, n)
	b.mark = grow(b.mark, n)
	clear(b.mark)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// allocator turns a budget into per-miner commands, starting from what is commanded now so
// that nothing changes without a reason: sheds are immediate, restores are paced, and running
// miners are never swapped for better ones just because the order says so.
type allocator struct {
	cfg *Config
	st  *State
	in  *Input
	out *Output
	buf *allocBuf
	now time.Time

	est      float64 // estimated draw of the proven fleet now
	inflight float64 // part of est commanded away but not yet confirmed
	stuck    float64 // draw beyond settled commands, by telemetry
	settling bool    // some command was still within its ramp at the site meter's instant
	// restoring: a restore was still ramping then; the meter has not seen it yet, so the
	// room it shows is not room for more.
	restoring bool
	// rampShed: draw of sheds still within their ramp that est counts as drawn, for want of
	// telemetry since. A site meter that already shows the drop makes the load outside
	// mining look that much smaller, so it is no room to restore into.
	rampShed float64
	fleetKW  float64 // rated power of every miner the policy may run

	committed float64 // mining power commanded after the step, plus stuck
	unknown   bool    // a budgeted miner's state is unknown
}

// usable reports whether a miner's nameplate data can be budgeted.
func usable(m *Miner) bool {
	return finite(m.RatedKW) && m.RatedKW > 0 && finite(m.EfficiencyJTH) && m.EfficiencyJTH > 0
}

// throttle returns the miner's sane power-target range.
func throttle(m *Miner) (lo, hi float64, ok bool) {
	t := m.Throttle
	if !finite(t.MinKW) || !finite(t.MaxKW) || !t.Supported() {
		return 0, 0, false
	}
	return t.MinKW, min(t.MaxKW, m.RatedKW), t.MinKW < min(t.MaxKW, m.RatedKW)
}

// fullPower is the most a miner may be given: a run, or for a group whose max_kw is below
// rated_kw, a throttle at max_kw (a run would put the firmware back to rated_kw).
func fullPower(m *Miner) (Action, float64) {
	if _, hi, ok := throttle(m); ok && hi < m.RatedKW {
		return ActionThrottle, hi
	}
	return ActionRun, m.RatedKW
}

// commandedKW is what a miner draws under its current command; an unknown miner is assumed at
// full power, because that is what a miner does when nobody told it otherwise.
func commandedKW(m *Miner) float64 {
	if !usable(m) {
		return 0
	}
	switch m.Commanded.Action {
	case ActionPause:
		return 0
	case ActionThrottle:
		if t := m.Commanded.TargetKW; finite(t) {
			return min(max(t, 0), m.RatedKW)
		}
	}
	return m.RatedKW
}

// settleBy is when the miner's latest command is taken as effective without evidence: its
// firmware's ramp time, never later than confirm_after.
func settleBy(cfg *Config, m *Miner) time.Time {
	w := cfg.ConfirmAfter.D()
	if m.Ramp > 0 && m.Ramp < w {
		w = m.Ramp
	}
	return m.Commanded.Changed.Add(w)
}

// measured returns the miner's telemetry when it is fresh and plausible.
func measured(cfg *Config, m *Miner, now time.Time) (float64, bool) {
	if m.MeasuredAt.IsZero() || now.Sub(m.MeasuredAt) > cfg.TelemetryMaxAge.D() ||
		!finite(m.MeasuredKW) || m.MeasuredKW < 0 || m.MeasuredKW > 2*m.RatedKW {
		return 0, false
	}
	return m.MeasuredKW, true
}

// DrawKW is the engine's estimate of what m draws at now: its own telemetry when fresh and
// taken after the latest command; a command still within its ramp at the higher of the
// earlier and the new draw (a shed is not counted before it shows, a restore is counted at
// once); otherwise the command. inFlight reports a shed not yet confirmed.
func DrawKW(cfg *Config, m *Miner, now time.Time) (kw float64, inFlight bool) {
	return drawAt(cfg, m, now, now)
}

// drawAt is DrawKW as the site meter sees it: at, the instant its latest reading describes.
// Telemetry newer than that is used only for a command already settled by then.
func drawAt(cfg *Config, m *Miner, at, now time.Time) (kw float64, inFlight bool) {
	cmd := commandedKW(m)
	end := settleBy(cfg, m)
	settled := m.Commanded.Changed.IsZero() || (!m.Commanded.Pending && !at.Before(end))
	// Telemetry counts when taken after the latest command and describing the same phase as
	// the meter: during the ramp, no later than the meter's instant; after it, once the ramp
	// was over (a report from mid-ramp says nothing about the settled draw).
	if v, ok := measured(cfg, m, now); ok && !m.MeasuredAt.Before(m.Commanded.Changed) &&
		((!settled && !m.MeasuredAt.After(at)) || (settled && (m.Commanded.Changed.IsZero() || !m.MeasuredAt.Before(end)))) {
		return v, false
	}
	if !settled && finite(m.Commanded.FromKW) && m.Commanded.FromKW > cmd {
		return min(m.Commanded.FromKW, m.RatedKW), true
	}
	return cmd, false
}

// excessKW is what a miner draws beyond its settled command, by its own telemetry, beyond a
// tenth of its rating (miner-reported watts are estimates).
func excessKW(cfg *Config, m *Miner, now time.Time) float64 {
	// A command restored from before a reconnect or restart (Changed zero) is long settled.
	if m.Commanded.Pending || (!m.Commanded.Changed.IsZero() && (now.Before(settleBy(cfg, m)) || m.MeasuredAt.Before(settleBy(cfg, m)))) {
		return 0
	}
	v, ok := measured(cfg, m, now)
	if !ok {
		return 0
	}
	if x := v - commandedKW(m); x > 0.1*m.RatedKW {
		return x
	}
	return 0
}

// refusedKW is what a miner whose shed the firmware keeps refusing (or not answering) still
// draws beyond that shed: until it is acknowledged, the budget counts it as drawing, not as
// free.
func refusedKW(cfg *Config, m *Miner, now time.Time) float64 {
	if !m.Commanded.Pending || !m.Commanded.Refused {
		return 0
	}
	kw, _ := DrawKW(cfg, m, now)
	return max(kw-commandedKW(m), 0)
}

// eligible reports whether m counts in the fleet estimate: proven and with sane ratings
// (operator-held and group-paused miners count: what they draw is mining).
func (a *allocator) eligible(m *Miner) bool { return m.Proven && usable(m) }

// estimate sums what the proven fleet draws at the instant the site meter's reading
// describes (at), so that the two are compared at the same moment.
func (a *allocator) estimate(at time.Time) {
	for i := range a.in.Fleet {
		m := &a.in.Fleet[i]
		if !a.eligible(m) {
			continue
		}
		kw, fl := drawAt(a.cfg, m, at, a.now)
		a.est += kw
		if !m.Commanded.Changed.IsZero() && (m.Commanded.Pending || at.Before(settleBy(a.cfg, m))) {
			a.settling = true
			a.restoring = a.restoring || m.Commanded.FromKW < commandedKW(m)
		}
		if fl {
			a.inflight += kw - commandedKW(m)
			if at.Before(settleBy(a.cfg, m)) {
				a.rampShed += kw - commandedKW(m)
			}
		}
		a.stuck += excessKW(a.cfg, m, a.now) + refusedKW(a.cfg, m, a.now)
	}
}

func (a *allocator) set(i int, act Action, kw float64, why Reason) {
	b := a.buf
	b.act[i], b.next[i], b.why[i] = act, kw, why
	if !b.mark[i] {
		b.mark[i] = true
		b.touched = append(b.touched, int32(i))
	}
}

func (a *allocator) run(safety float64, safetyWhy Reason, economic, restoreBudget float64) {
	fleet := a.in.Fleet
	b := a.buf
	b.reset(len(fleet))
	paused := a.in.Manual.PausedGroups

	// Forced pauses first; every other proven miner is a candidate in run order. Unproven
	// sessions are left alone: no budget, no command.
	for i := range fleet {
		m := &fleet[i]
		b.next[i], b.act[i], b.why[i] = commandedKW(m), m.Commanded.Action, ReasonNone
		switch {
		case !m.Proven:
		case !usable(m):
			if m.Commanded.Action != ActionPause {
				a.set(i, ActionPause, 0, ReasonBadMiner)
			}
		case slices.Contains(paused, m.Group):
			if m.Commanded.Action != ActionPause {
				a.set(i, ActionPause, 0, ReasonGroupPaused)
			}
		case m.OperatorHold:
			if m.Commanded.Action != ActionPause {
				a.set(i, ActionPause, 0, ReasonOperatorHold)
			}
		default:
			b.order = append(b.order, int32(i))
			a.committed += b.next[i]
			a.fleetKW += m.RatedKW
			a.unknown = a.unknown || m.Commanded.Action == ActionUnknown
		}
	}
	// Draw that miners keep despite their commands is real: other miners make room for it.
	a.committed += a.stuck
	// Sort contiguous keys rather than indices into the fleet: a 10,000-miner sort then stays
	// in cache.
	keys := b.keys[:0]
	for _, i := range b.order {
		m := &fleet[i]
		keys = append(keys, sortKey{prio: m.Priority, eff: m.EfficiencyJTH, id: m.ID, idx: i})
	}
	slices.SortFunc(keys, func(x, y sortKey) int {
		if c := cmp.Compare(y.prio, x.prio); c != 0 { // higher priority runs first
			return c
		}
		if c := cmp.Compare(x.eff, y.eff); c != 0 { // efficient runs first
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	for k := range keys {
		b.order[k] = keys[k].idx
	}
	clear(keys) // drop string references until the next step
	b.keys = keys

	// Meter noise is tolerated only against the import limit (or a demand-response target)
	// read on a healthy site meter, where margin_kw covers it. A cap, the safe floor, a trip
	// or a price stop has no margin behind it: every kW over it is shed.
	soft := (safetyWhy == ReasonImportLimit || safetyWhy == ReasonDemandResponse) &&
		(a.st.mode == ModeNormal || a.st.mode == ModeOverLimit)
	shed := a.shed(safety, safetyWhy, false, soft)
	shed = a.shed(economic, ReasonPrice, true, soft && economic >= safety) || shed
	if !shed && !a.restoring && a.st.mode != ModeTrip && !a.now.Before(a.st.lastRestore.Add(a.cfg.RestoreInterval.D())) {
		a.restore(restoreBudget)
	}

	for _, i := range b.order { // proven miners of unknown state that keep running become known
		if m := &fleet[i]; m.Commanded.Action == ActionUnknown && !b.mark[i] {
			act, kw := fullPower(m)
			a.set(int(i), act, kw, ReasonAdopt)
		}
	}
	a.emit()
}

// shed lowers commanded power to budget, least important miners first. Economic sheds spare
// miners inside min_run; safety sheds do not. Miners whose last command is still ramping are
// taken last, so one miner does not get two commands while others could act. soft says the
// budget comes from a meter reading with margin_kw behind it.
func (a *allocator) shed(budget float64, why Reason, economic, soft bool) bool {
	need := a.committed - budget
	// Within half the hysteresis band (and inside the margin) an excess over a soft budget is
	// meter noise, not load: shedding it would ratchet the fleet down one noisy reading at a
	// time. Miners of unknown state (a command failed) are no noise: they are shed or adopted
	// by the budget.
	noise := max(a.cfg.ThrottleDeadbandKW, min(a.cfg.HysteresisKW, a.cfg.MarginKW)/2)
	if need <= 1e-9 || (soft && need <= noise && !a.unknown) {
		return false
	}
	fleet, b := a.in.Fleet, a.buf
	did := false
	for pass := 0; pass < 2 && need > 1e-9; pass++ {
		for k := len(b.order) - 1; k >= 0 && need > 1e-9; k-- {
			i := int(b.order[k])
			m, cur := &fleet[i], b.next[i]
			if cur <= 0 || b.mark[i] {
				continue
			}
			if pass == 0 && !m.Commanded.Changed.IsZero() && (m.Commanded.Pending || a.now.Before(settleBy(a.cfg, m))) {
				continue
			}
			if economic && m.Commanded.Action != ActionPause && a.now.Sub(m.Commanded.Since) < a.cfg.MinRun.D() {
				continue
			}
			if lo, hi, ok := throttle(m); ok && cur-need >= lo {
				// Never a target above the range the firmware takes (max_kw below rated_kw):
				// that sheds a little more than needed instead of being refused.
				to := min(cur-need, hi)
				a.set(i, ActionThrottle, to, why)
				a.committed -= cur - to
				need = 0
				did = true
				break
			}
			a.set(i, ActionPause, 0, why)
			a.committed -= cur
			need -= cur
			did = true
		}
	}
	return did
}

// restore adds power back, at most restore_step_kw per restore_interval and only beyond the
// hysteresis band, strictly in run order (priority, then efficiency): a miner that may not
// run yet (min_pause) keeps its power reserved ahead of every miner after it, and one that
// does not fit holds them all back.
func (a *allocator) restore(budget float64) {
	cfg := a.cfg
	room := budget - a.committed - cfg.HysteresisKW
	if room <= cfg.ThrottleDeadbandKW {
		return
	}
	allow := min(room, cfg.RestoreStepKW)
	first, did := true, false
	fleet, b := a.in.Fleet, a.buf
	for _, i32 := range b.order {
		if allow <= cfg.ThrottleDeadbandKW {
			break
		}
		i := int(i32)
		m, cur := &fleet[i], b.next[i]
		lo, hi, canThrottle := throttle(m)
		switch {
		case b.act[i] == ActionThrottle && canThrottle && cur < hi:
			if m.Commanded.FromKW > cur && a.now.Sub(m.Commanded.Changed) < cfg.MinPause.D() {
				// Cut back less than min_pause ago: like a paused miner, it waits, and its
				// power is kept for it.
				room -= hi - cur
				allow = min(allow, room)
				continue
			}
			up := min(hi, cur+allow)
			if up-cur <= cfg.ThrottleDeadbandKW {
				continue
			}
			if up >= hi && hi >= m.RatedKW {
				up = m.RatedKW
				a.set(i, ActionRun, up, ReasonRestore)
			} else {
				a.set(i, ActionThrottle, up, ReasonRestore)
			}
			allow -= up - cur
			a.committed += up - cur
		case b.act[i] == ActionPause:
			if a.now.Sub(m.Commanded.Since) < cfg.MinPause.D() {
				// Not yet allowed back: its power is kept for it, so no less important
				// miner takes its place; what is left may go to the next ones.
				room -= m.RatedKW
				allow = min(allow, room)
				continue
			}
			act, p := fullPower(m)
			switch {
			case p <= allow || (first && p <= room):
				a.set(i, act, p, ReasonRestore)
			case canThrottle && allow >= lo:
				p = min(allow, hi)
				a.set(i, ActionThrottle, p, ReasonRestore)
			default:
				allow = 0 // keep the order: a smaller, less important miner does not jump ahead
				continue
			}
			allow -= p
			a.committed += p
		default:
			continue
		}
		first, did = false, true
	}
	if did {
		a.st.lastRestore = a.now
	}
}

// emit turns changed miners into decisions, in the order they were changed.
func (a *allocator) emit() {
	fleet, b := a.in.Fleet, a.buf
	if len(b.touched) == 0 {
		return
	}
	ds := make([]Decision, 0, len(b.touched))
	for _, i32 := range b.touched {
		i := int(i32)
		m := &fleet[i]
		from := commandedKW(m)
		act, kw := b.act[i], b.next[i]
		if act == m.Commanded.Action && (act != ActionThrottle || math.Abs(kw-from) <= 1e-9) {
			continue
		}
		ds = append(ds, Decision{MinerID: m.ID, Group: m.Group, Action: act, TargetKW: kw, FromKW: from, Reason: b.why[i]})
	}
	a.out.Decisions = ds
}
