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

	committed      float64 // mining power commanded after the step
	startCommitted float64 // mining power commanded before the step
	shedKW         float64 // power removed this step, for confirmation
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

func (a *allocator) set(i int, act Action, kw float64, why Reason) {
	b := a.buf
	b.act[i], b.next[i], b.why[i] = act, kw, why
	if !b.mark[i] {
		b.mark[i] = true
		b.touched = append(b.touched, int32(i))
	}
}

func (a *allocator) run(safety float64, safetyWhy Reason, economic, headroom float64, importOK bool) {
	fleet := a.in.Fleet
	b := a.buf
	b.reset(len(fleet))
	paused := a.in.Manual.PausedGroups

	// Forced pauses first; everything else is a candidate in run order.
	for i := range fleet {
		m := &fleet[i]
		b.next[i], b.act[i], b.why[i] = commandedKW(m), m.Commanded.Action, ReasonNone
		switch {
		case !usable(m):
			if m.Commanded.Action != ActionPause {
				a.set(i, ActionPause, 0, ReasonBadMiner)
			}
		case slices.Contains(paused, m.Group):
			if m.Commanded.Action != ActionPause {
				a.set(i, ActionPause, 0, ReasonGroupPaused)
			}
		default:
			b.order = append(b.order, int32(i))
			a.committed += b.next[i]
		}
	}
	a.startCommitted = a.committed
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

	shed := a.shed(safety, safetyWhy, false)
	shed = a.shed(economic, ReasonPrice, true) || shed
	if !shed && a.st.mode != ModeTrip && !a.st.pending.active &&
		!a.now.Before(a.st.lastRestore.Add(a.cfg.RestoreInterval.D())) {
		a.restore(economic, headroom, importOK)
	}

	for _, i := range b.order { // miners of unknown state that keep running become known
		if fleet[i].Commanded.Action == ActionUnknown && !b.mark[i] {
			a.set(int(i), ActionRun, fleet[i].RatedKW, ReasonAdopt)
		}
	}
	a.emit()
}

// shed lowers commanded power to budget, least important miners first. Economic sheds spare
// miners inside min_run; safety sheds do not.
func (a *allocator) shed(budget float64, why Reason, economic bool) bool {
	need := a.committed - budget
	if need <= a.cfg.ThrottleDeadbandKW || need <= 1e-9 {
		return false
	}
	fleet, b := a.in.Fleet, a.buf
	did := false
	for k := len(b.order) - 1; k >= 0 && need > 1e-9; k-- {
		i := int(b.order[k])
		m, cur := &fleet[i], b.next[i]
		if cur <= 0 {
			continue
		}
		if economic && m.Commanded.Action != ActionPause && a.now.Sub(m.Commanded.Since) < a.cfg.MinRun.D() {
			continue
		}
		if lo, _, ok := throttle(m); ok && cur-need >= lo {
			a.set(i, ActionThrottle, cur-need, why)
			a.reduce(cur, cur-need)
			need = 0
			did = true
			break
		}
		a.set(i, ActionPause, 0, why)
		a.reduce(cur, 0)
		need -= cur
		did = true
	}
	return did
}

func (a *allocator) reduce(from, to float64) {
	a.committed -= from - to
	a.shedKW += from - to
}

// restore adds power back, at most restore_step_kw per restore_interval and only beyond the
// hysteresis band. Withheld escalation budget is released first, and only while the site
// meter shows real headroom.
func (a *allocator) restore(budget, headroom float64, importOK bool) {
	cfg := a.cfg
	if a.st.escalationKW > 0 {
		if importOK && headroom > cfg.HysteresisKW {
			rel := min(cfg.RestoreStepKW, a.st.escalationKW, headroom-cfg.HysteresisKW)
			a.st.escalationKW -= rel
			if a.st.escalationKW < 1e-9 {
				a.st.escalationKW = 0
			}
			a.st.lastRestore = a.now
			a.out.Notes = append(a.out.Notes, Note{Kind: NoteEscalationReleased, KW: rel})
		}
		return
	}
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
				continue // not yet allowed back; later miners may go first
			}
			p := m.RatedKW
			switch {
			case p <= allow || (first && p <= room):
				a.set(i, ActionRun, p, ReasonRestore)
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
