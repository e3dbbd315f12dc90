package power

import (
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/store"
)

// energyLedger integrates power readings into energy per interval (kWh), holding each
// reading's value until the next one (what a meter's register means between polls). Gaps
// longer than maxHold are not integrated: a silent meter is not assumed to keep drawing.
type energyLedger struct {
	interval time.Duration
	start    time.Time
	sums     map[policy.Role]float64        // kWh so far in this interval
	last     map[policy.Role]policy.Reading // the value held, from the instant counted up to
	seen     map[policy.Role]time.Time      // each role's newest reading, for ordering
	budget   float64                        // kWh of budget
	budgetAt time.Time
	budgetKW float64
}

const maxHold = 30 * time.Second

func newEnergyLedger(interval time.Duration, now time.Time) *energyLedger {
	return &energyLedger{interval: interval, start: now.Truncate(interval), sums: map[policy.Role]float64{}, last: map[policy.Role]policy.Reading{}, seen: map[policy.Role]time.Time{}}
}

// observe adds a reading; it returns finished intervals to store.
func (e *energyLedger) observe(r policy.Reading) []store.EnergyInterval {
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.At.IsZero() {
		return nil
	}
	// A reading no newer than the role's last one (meters deliver out of order: MQTT
	// handlers run concurrently) is dropped: its span is counted already, and keeping it
	// would count the next span again from its older time.
	if seen, ok := e.seen[r.Role]; ok && !r.At.After(seen) {
		return nil
	}
	e.seen[r.Role] = r.At
	out := e.advance(r.At)
	prev, ok := e.last[r.Role]
	if ok && r.At.Before(prev.At) {
		// Newer than the role's last reading but older than the point its value was carried
		// to when another role's reading closed the interval: the span up to that point is
		// counted, so this value holds from there on.
		e.last[r.Role] = policy.Reading{Role: r.Role, Value: r.Value, At: prev.At}
		return out
	}
	if ok {
		if d := r.At.Sub(prev.At); d <= maxHold {
			e.sums[r.Role] += prev.Value * d.Hours()
		}
	}
	e.last[r.Role] = r
	return out
}

// setBudget records the policy's mining budget (kW) from now on.
func (e *energyLedger) setBudget(kw float64, now time.Time) []store.EnergyInterval {
	out := e.advance(now)
	if !e.budgetAt.IsZero() && now.After(e.budgetAt) {
		e.budget += e.budgetKW * now.Sub(e.budgetAt).Hours()
	}
	e.budgetKW, e.budgetAt = kw, now
	return out
}

// advance closes every interval that ended by now, carrying held values to its end.
func (e *energyLedger) advance(now time.Time) []store.EnergyInterval {
	var out []store.EnergyInterval
	for end := e.start.Add(e.interval); !now.Before(end); end = e.start.Add(e.interval) {
		for role, prev := range e.last {
			if prev.At.Before(end) && end.Sub(prev.At) <= maxHold {
				e.sums[role] += prev.Value * end.Sub(prev.At).Hours()
				prev.At = end
				e.last[role] = prev
			}
		}
		if !e.budgetAt.IsZero() && e.budgetAt.Before(end) {
			e.budget += e.budgetKW * end.Sub(e.budgetAt).Hours()
			e.budgetAt = end
		}
		out = append(out, store.EnergyInterval{
			Start: e.start, Length: e.interval,
			ImportKWh: e.sums[policy.RoleSiteImport], MiningKWh: e.sums[policy.RoleMiningLoad],
			AIKWh: e.sums[policy.RoleAILoad], BudgetKWh: e.budget,
		})
		clear(e.sums)
		e.budget = 0
		e.start = end
	}
	return out
}

// queueEnergy hands closed intervals to the energy writer without waiting. The queue is
// bounded (energy_queue); when it is full the newest interval is dropped and counted
// (power_energy_full): a store that stalls loses energy records, never meter readings.
func (c *Controller) queueEnergy(ivs []store.EnergyInterval) {
	if c.st == nil {
		return
	}
	for _, iv := range ivs {
		select {
		case c.energy <- iv:
		default:
			if c.energyDrops.Add(1) == 1 {
				c.log.Warn().Time("start", iv.Start).Msg("energy queue full: the store is not keeping up; dropping intervals")
			}
		}
	}
}

// shutdownWrite bounds how long the energy writer keeps writing what is queued after Run's
// context ended.
const shutdownWrite = 5 * time.Second

// writeEnergy is the energy queue's one writer: it stores each interval durably, off the
// meter feed. With a policy it also runs the group ledger (sampleGroups), whose intervals
// reach it through a queue of the same capacity (energy_queue). After ctx ends it writes what
// is still queued, for at most shutdownWrite.
func (c *Controller) writeEnergy(ctx context.Context) {
	write := func(wctx context.Context, iv store.EnergyInterval) {
		if err := c.st.RecordEnergy(wctx, iv); err != nil {
			c.energyErrs.Add(1)
			c.log.Warn().Err(err).Time("start", iv.Start).Msg("energy interval not recorded")
		}
	}
	writeGroups := func(wctx context.Context, gs []store.GroupEnergy) {
		if err := c.st.RecordGroupEnergy(wctx, gs); err != nil {
			c.energyErrs.Add(1)
			c.log.Warn().Err(err).Time("start", gs[0].Start).Msg("group energy intervals not recorded")
		}
	}
	groups := make(chan []store.GroupEnergy, c.cfg.EnergyQueue)
	if c.runner != nil {
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			c.sampleGroups(ctx, groups)
		}()
		defer func() { <-sampled }()
	}
	for {
		select {
		case iv := <-c.energy:
			write(context.WithoutCancel(ctx), iv)
		case gs := <-groups:
			writeGroups(context.WithoutCancel(ctx), gs)
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownWrite)
			defer cancel()
			for {
				select {
				case iv := <-c.energy:
					write(wctx, iv)
				case gs := <-groups:
					writeGroups(wctx, gs)
				default:
					return
				}
			}
		}
	}
}

// groupSample is how often the group ledger samples the policy's view of the fleet; a state
// change is placed in time to within one sample.
const groupSample = 5 * time.Second

// maxGroupHold is the longest span one sample's figures are held for. The figures come from
// memory, so a longer gap means this process did not run (suspended): it is not integrated.
const maxGroupHold = 2 * time.Minute

// groupSubscription is the room the group ledger's policy event stream has; a shed of more
// miners than that in one step can drop decisions, but one kept decision per group is enough
// to count the step.
const groupSubscription = 4096

// groupRate is what one sample found for a group: power by source and what was shed.
type groupRate struct {
	measuredKW, estimatedKW float64
	measuredN, estimatedN   int64
	shedKW                  float64
	curtailed               bool
	miners                  int
}

// groupLedger integrates the policy's per-miner view into per-group energy per interval. It
// is owned by the group sampler goroutine. A sample's figures stand for the span since the
// previous sample (at most maxGroupHold), so a change is counted from the first sample that
// sees it, however late the sampler ran.
type groupLedger struct {
	interval time.Duration
	// fresh is how recent a miner's own power report must be to be used.
	fresh time.Duration
	// est is the policy configuration DrawKW estimates with (its confirm_after ramp).
	est policy.Config

	start    time.Time
	last     time.Time // the latest sample; zero before the first
	rates    map[string]groupRate
	price    float64
	priced   bool
	acc      map[string]*store.GroupEnergy
	lastShed map[string]time.Time // the step (Basis.At) of the latest shed counted per group
}

func newGroupLedger(interval, fresh time.Duration, now time.Time) *groupLedger {
	return &groupLedger{interval: interval, fresh: fresh, est: policy.DefaultConfig(), start: now.Truncate(interval),
		rates: map[string]groupRate{}, acc: map[string]*store.GroupEnergy{}, lastShed: map[string]time.Time{}}
}

// minerDraw is what one miner draws by the ledger's rule: its own report when fresh (taken
// after its latest command, plausible), else the policy's estimate without telemetry (the
// command, a shed still within its ramp counted at its earlier draw).
func (g *groupLedger) minerDraw(m *policy.Miner, now time.Time) (kw float64, measured bool) {
	v := m.MeasuredKW
	if !m.MeasuredAt.IsZero() && now.Sub(m.MeasuredAt) <= g.fresh && !m.MeasuredAt.Before(m.Commanded.Changed) &&
		!math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 && v <= 2*m.RatedKW {
		return v, true
	}
	mm := *m
	mm.MeasuredAt = time.Time{}
	kw, _ = policy.DrawKW(&g.est, &mm, now)
	return kw, false
}

// heldBelow reports whether the policy holds m below its full power: paused, or throttled
// under its rating.
func heldBelow(m *policy.Miner) bool {
	switch m.Commanded.Action {
	case policy.ActionPause:
		return true
	case policy.ActionThrottle:
		return m.Commanded.TargetKW < m.RatedKW
	}
	return false
}

// sample takes the fleet as the policy sees it at now (only proven miners of a group: what
// the policy counts as mining) and the price, when one is known, for the span since the
// previous sample; it returns the intervals that closed by now.
func (g *groupLedger) sample(now time.Time, miners []policy.MinerStatus, price float64, priced bool) []store.GroupEnergy {
	if !g.last.IsZero() && !now.After(g.last) {
		return nil
	}
	clear(g.rates)
	for i := range miners {
		m := &miners[i].Miner
		if m.Group == "" || !m.Proven {
			continue
		}
		r := g.rates[m.Group]
		kw, measured := g.minerDraw(m, now)
		if measured {
			r.measuredKW += kw
			r.measuredN++
		} else {
			r.estimatedKW += kw
			r.estimatedN++
		}
		if heldBelow(m) {
			r.curtailed = true
			r.shedKW += max(0, m.RatedKW-kw)
		}
		r.miners++
		g.rates[m.Group] = r
	}
	g.price, g.priced = price, priced && !math.IsNaN(price) && !math.IsInf(price, 0)
	span := !g.last.IsZero() && now.Sub(g.last) <= maxGroupHold
	var out []store.GroupEnergy
	for end := g.start.Add(g.interval); end.Before(now); end = g.start.Add(g.interval) {
		if span {
			g.hold(end)
		}
		out = append(out, g.close(end)...)
	}
	if span {
		g.hold(now)
		for grp, r := range g.rates {
			e := g.entry(grp)
			e.MeasuredSamples += r.measuredN
			e.EstimatedSamples += r.estimatedN
			e.Miners = max(e.Miners, r.miners)
		}
	}
	if end := g.start.Add(g.interval); !now.Before(end) {
		out = append(out, g.close(end)...)
	}
	g.last = now
	return out
}

// shed counts a policy step that lowered a miner of group (one per step and group).
func (g *groupLedger) shed(group string, step time.Time) {
	if group == "" || g.lastShed[group].Equal(step) {
		return
	}
	g.lastShed[group] = step
	g.entry(group).CurtailEvents++
}

func (g *groupLedger) entry(group string) *store.GroupEnergy {
	e := g.acc[group]
	if e == nil {
		e = &store.GroupEnergy{Group: group}
		g.acc[group] = e
	}
	return e
}

// hold integrates the current figures from the last sample (or the interval's start, when
// later) to t.
func (g *groupLedger) hold(t time.Time) {
	from := g.last
	if from.Before(g.start) {
		from = g.start
	}
	if !t.After(from) {
		return
	}
	h := t.Sub(from).Hours()
	for grp, r := range g.rates {
		e := g.entry(grp)
		e.MeasuredKWh += r.measuredKW * h
		e.EstimatedKWh += r.estimatedKW * h
		e.ShedKWh += r.shedKW * h
		if r.curtailed {
			e.CurtailedSeconds += t.Sub(from).Seconds()
		}
		if g.priced {
			kwh := (r.measuredKW + r.estimatedKW) * h
			e.PricedKWh += kwh
			e.Cost += kwh * g.price / 1000 // price per MWh
		}
	}
}

// close ends the current interval at end and returns its records, one per group seen in it.
func (g *groupLedger) close(end time.Time) []store.GroupEnergy {
	var out []store.GroupEnergy
	for _, grp := range slices.Sorted(maps.Keys(g.acc)) {
		e := *g.acc[grp]
		e.Start, e.Length = g.start, g.interval
		out = append(out, e)
	}
	clear(g.acc)
	g.start = end
	return out
}

// sampleGroups runs the group ledger until ctx ends: it samples the Runner every groupSample,
// counts shed steps from the Runner's decisions, and hands closed intervals to out without
// waiting (a full queue drops the newest, counted as power_energy_full like the site's).
func (c *Controller) sampleGroups(ctx context.Context, out chan<- []store.GroupEnergy) {
	sub := c.runner.Subscribe(groupSubscription)
	defer sub.Close()
	priceMeter := false
	c.mu.Lock()
	for _, ms := range c.meterS {
		priceMeter = priceMeter || ms.cfg.Role == meter.RolePrice
	}
	c.mu.Unlock()
	g := newGroupLedger(time.Minute, 3*c.cfg.TelemetryInterval.D(), c.clk.Now())
	tick := c.clk.NewTicker(groupSample)
	defer tick.Stop()
	events := sub.C()
	var dropped uint64
	for {
		var closed []store.GroupEnergy
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil // the Runner stopped
				continue
			}
			if ev.Kind == policy.EventDecision && ev.Decision.Shed() {
				g.shed(ev.Decision.Group, ev.Decision.Basis.At)
			}
			continue
		case <-tick.C():
			if d := sub.Dropped(); d > dropped {
				// A step that shed more miners than the stream holds may go uncounted.
				c.log.Warn().Uint64("dropped_total", d).Msg("group ledger fell behind the policy's decisions; curtailment events may be undercounted")
				dropped = d
			}
			// The clock, not the tick: a tick delivered late still integrates up to now.
			now := c.clk.Now()
			snap := c.runner.Snapshot()
			b := snap.Basis
			closed = g.sample(now, snap.Miners, b.Price, priceMeter && !b.Faults.Has(policy.RolePrice))
		}
		if len(closed) == 0 {
			continue
		}
		select {
		case out <- closed:
		default:
			if c.energyDrops.Add(1) == 1 {
				c.log.Warn().Time("start", closed[0].Start).Msg("group energy queue full: the store is not keeping up; dropping intervals")
			}
		}
	}
}
