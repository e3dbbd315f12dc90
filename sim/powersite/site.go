// Package powersite simulates a power-constrained site in simulated time, to judge a power
// controller by what a site depends on: never above the import limit beyond the firmware's
// delay, spare energy used, no over-shed, no flapping, and a prompt restore after a meter
// recovers. The physics are the site's, not the controller's: meters lag, drop out, add noise
// and lie; firmware takes its ramp time, fails, or acknowledges and changes nothing; AI load
// spikes, ramps and oscillates; load no sub-meter sees steps up; the controller restarts.
//
// `hashgate simulate` prints the scenario table; the policy's tests run the same scenarios
// and check the invariants.
package powersite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// Epoch is simulated time zero.
var Epoch = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)

// Window is a span of simulated seconds [From, To).
type Window struct{ From, To float64 }

// Contains reports whether t falls in the window.
func (w Window) Contains(t float64) bool { return t >= w.From && t < w.To }

// Load is a load profile in kW over simulated seconds.
type Load func(t float64) float64

// MeterSpec describes one meter's behaviour.
type MeterSpec struct {
	Role     policy.Role
	PeriodS  float64  // seconds between readings
	LagS     float64  // a reading shows the truth this long ago (averaging, transport)
	Noise    float64  // relative noise, 1 sigma
	Dropouts []Window // silent
	Garbage  []Window // reports NaN (what the meter sources send for unusable values)
	Lies     []Window // reports LieKW instead of the truth
	LieKW    float64
}

// MinerSpec describes a group of identical miners.
type MinerSpec struct {
	Group         string
	Count         int
	RatedKW       float64
	EfficiencyJTH float64
	Priority      int
	ThrottleMinKW float64 // zero: on/off only
	LatencyS      float64 // command round trip before the draw starts to change
	RampS         float64 // linear ramp to the new draw
	// Deaf miners acknowledge every command and change nothing.
	Deaf int
	// FailRate is the chance a command returns an error (the miner's state is then unknown).
	FailRate float64
	// TelemetryS is how often the firmware reports measured power (zero: never).
	TelemetryS float64
	// Unproven sessions authorize and never hash: they draw nothing and prove nothing.
	Unproven bool
}

// Scenario is one named run.
type Scenario struct {
	Name        string
	Description string
	DurationS   float64
	Config      policy.Config
	Fleet       []MinerSpec
	AI          Load
	Unmetered   Load
	Meters      []MeterSpec
	// Restarts lose the controller's state at these times (commands are restored, as the
	// store does).
	Restarts []float64
	Seed     uint64
}

// plantMiner is one miner's physics and the controller's view of it.
type plantMiner struct {
	spec *MinerSpec
	deaf bool
	// physics
	draw, from, to float64
	start, end     float64 // ramp window in seconds
	// telemetry
	nextReport float64
}

func (p *plantMiner) at(t float64) float64 {
	switch {
	case t >= p.end:
		return p.to
	case t <= p.start:
		return p.from
	}
	return p.from + (p.to-p.from)*(t-p.start)/(p.end-p.start)
}

// Result is what one run measured.
type Result struct {
	Scenario   string
	Controller string
	// AboveLimitS is the seconds the true import spent above the limit later than the allowed
	// firmware delay (meter period and lag plus the slowest shed latency and ramp) after the
	// other load last rose.
	AboveLimitS float64
	// MaxOverKW is the largest true import above the limit.
	MaxOverKW float64
	// SpareUsedPct is the energy mining drew as a share of what a perfect controller under
	// the same rules could have drawn (spare power under limit - margin, at most the proven
	// fleet, at most safe_floor_kw while the site meter is at fault).
	SpareUsedPct float64
	// OverShedKWs integrates how far mining fell below the lowest spare power of the last
	// restore window, less one miner's rating and the hysteresis band: power shed that no
	// load rise asked for.
	OverShedKWs float64
	// MaxOverShedKW is the largest such shortfall at any moment.
	MaxOverShedKW float64
	// FastToggles counts pauses inside min_run (not for safety) and restarts inside min_pause.
	FastToggles int
	// RestoreS is the longest time, after a site meter fault ends, until mining is back within
	// one miner of the spare power; RestoreBoundS is the target (min_pause left + the restore
	// ramp + 10 s). Zero when the scenario has no site meter fault.
	RestoreS, RestoreBoundS float64
	// FinalShortKW is how far mining ended below the lowest spare power of the last
	// restore window, beyond one miner and the hysteresis band; Stuck reports it is not zero.
	FinalShortKW float64
	Stuck        bool
}

// Controller decides from what the meters and telemetry show.
type Controller interface {
	Name() string
	Step(now time.Time, rd policy.Readings, fleet []policy.Miner) []policy.Decision
	// Restart loses all state but the configuration.
	Restart()
}

// Live is a Controller that decides on goroutines of its own, as hashgate's policy.Runner
// does in production. Run starts it with the site's command function, feeds it every reading
// and telemetry report, and lets a tick of time pass after each: it must run inside a
// testing/synctest bubble, where that time is simulated. Its Step is not called.
type Live interface {
	Controller
	// Start begins deciding; command carries out one decision on the site (it takes the
	// firmware's latency and returns its error) and is safe for concurrent use.
	Start(fleet []policy.Miner, command func(ctx context.Context, d policy.Decision) error)
	// Feed hands over the latest readings and the fleet's telemetry.
	Feed(rd policy.Readings, fleet []policy.Miner)
	// Stop ends it and waits for its goroutines.
	Stop()
}

// Stepped is a Live controller on a simulated clock of its own instead of a
// testing/synctest bubble (a controller whose goroutines wait on network I/O never blocks
// durably there, so a bubble's time would not move): Run takes the time from Clock, waits the
// firmware's latency on it, and calls Advance instead of sleeping a tick. Feed and Advance
// return once the controller has done what the readings and the time ask of it.
type Stepped interface {
	Live
	Clock() clock.Clock
	// Advance moves the clock on by d.
	Advance(d time.Duration)
}

const tick = 0.25 // physics resolution, seconds

// Run runs sc against ctl and measures it.
func Run(sc *Scenario, ctl Controller) Result {
	rng := rand.New(rand.NewPCG(sc.Seed, 0x5eed))
	cfg := &sc.Config
	var plant []plantMiner
	var fleet []policy.Miner
	maxRated, slowShed := 0.0, 0.0
	for gi := range sc.Fleet {
		g := &sc.Fleet[gi]
		for k := 0; k < g.Count; k++ {
			kw := g.RatedKW
			if g.Unproven {
				kw = 0
			}
			plant = append(plant, plantMiner{spec: g, deaf: k < g.Deaf, draw: kw, from: kw, to: kw, nextReport: float64(k%10) + 1})
			m := policy.Miner{ID: fmt.Sprintf("%s-%03d", g.Group, k), Group: g.Group, Priority: g.Priority,
				RatedKW: g.RatedKW, EfficiencyJTH: g.EfficiencyJTH, Proven: !g.Unproven,
				Ramp:      time.Duration((g.LatencyS + g.RampS + 1) * float64(time.Second)),
				Commanded: policy.Command{Action: policy.ActionRun, Since: Epoch.Add(-time.Hour)}}
			if g.Unproven {
				m.Commanded = policy.Command{}
			}
			if g.ThrottleMinKW > 0 {
				m.Throttle = policy.ThrottleRange{MinKW: g.ThrottleMinKW, MaxKW: g.RatedKW}
			}
			fleet = append(fleet, m)
			if !g.Unproven {
				maxRated = max(maxRated, g.RatedKW)
			}
		}
		slowShed = max(slowShed, g.LatencyS+g.RampS)
	}
	idx := make(map[string]int, len(fleet))
	for i := range fleet {
		idx[fleet[i].ID] = i
	}
	var fleetKW float64
	for i := range fleet {
		if fleet[i].Proven {
			fleetKW += fleet[i].RatedKW
		}
	}

	// The meters' view of the past, for lag.
	type sample struct{ ai, unmetered, mining float64 }
	hist := make([]sample, 0, int(sc.DurationS/tick)+2)
	truthAt := func(t float64) sample {
		i := int(math.Round(t / tick))
		if i < 0 {
			i = 0
		}
		if i >= len(hist) {
			i = len(hist) - 1
		}
		return hist[i]
	}
	nextRead := make([]float64, len(sc.Meters))
	var rd policy.Readings

	res := Result{Scenario: sc.Name, Controller: ctl.Name()}
	allowed := 0.0
	for _, m := range sc.Meters {
		if m.Role == policy.RoleSiteImport {
			allowed = m.PeriodS + m.LagS
		}
	}
	allowed += slowShed + 2 // one engine step and one tick of rounding
	for _, g := range sc.Fleet {
		if g.Deaf > 0 {
			// A firmware that acknowledges and does nothing is found out when its shed has had
			// its ramp time (at most confirm_after); then other miners shed, with their delay.
			allowed += min(g.LatencyS+g.RampS+1, cfg.ConfirmAfter.D().Seconds()) + slowShed + 1
			break
		}
	}
	var ideal, mined, lastLo float64
	lastRise := 0.0
	hyst := cfg.HysteresisKW
	slack := maxRated + hyst
	// A controller that sheds no more than needed is never below the lowest spare power of the
	// time it takes to come back: min_pause, the restore ramp for the whole fleet, the
	// slowest firmware and the site meter's delay.
	window := int((cfg.MinPause.D().Seconds() + math.Ceil(fleetKW/cfg.RestoreStepKW)*cfg.RestoreInterval.D().Seconds() +
		slowShed + 2*allowed) / tick)
	idealHist := make([]float64, 0, cap(hist))
	history := make(map[int][]transition)
	siteFault := func(t float64) bool {
		for _, m := range sc.Meters {
			if m.Role != policy.RoleSiteImport {
				continue
			}
			for _, w := range append(append([]Window{}, m.Dropouts...), m.Garbage...) {
				// A fault is seen after stale_after (dropouts) and lasts one reading longer.
				if t >= w.From && t < w.To+m.PeriodS+m.LagS+cfg.StaleAfter.D().Seconds() {
					return true
				}
			}
		}
		return false
	}
	restarts := append([]float64(nil), sc.Restarts...)
	faultEnds := map[float64]bool{}
	for _, m := range sc.Meters {
		if m.Role == policy.RoleSiteImport {
			for _, w := range append(append([]Window{}, m.Dropouts...), m.Garbage...) {
				faultEnds[w.To] = true
			}
		}
	}
	type pendingFail struct {
		at float64
		id int
	}
	var fails []pendingFail

	// mu guards the plant and the history: a Live controller commands from its own goroutines.
	var mu sync.Mutex
	// command carries out decision d on miner i at simulated time t (after the firmware's
	// latency, already passed for a Live controller); it reports whether the command failed.
	command := func(i int, d policy.Decision, t float64, changed, waited bool) bool {
		p := &plant[i]
		if p.spec.Unproven {
			return false
		}
		if p.spec.FailRate > 0 && rng.Float64() < p.spec.FailRate {
			return true // a failed command changes nothing: no transition
		}
		if changed {
			history[i] = append(history[i], transition{t: t, action: d.Action, safety: d.Reason.Safety(), adopt: d.Reason == policy.ReasonAdopt})
		}
		if p.deaf {
			return false
		}
		start := t
		if !waited {
			start += p.spec.LatencyS
		}
		p.from, p.to = p.at(t), d.TargetKW
		p.start, p.end = start, start+p.spec.RampS
		return false
	}
	live, isLive := ctl.(Live)
	var clk clock.Clock = clock.Real // inside a synctest bubble, the bubble's time
	stepped, isStepped := ctl.(Stepped)
	if isStepped {
		clk = stepped.Clock()
	}
	var t0 time.Time
	if isLive {
		t0 = clk.Now()
		last := make(map[string]policy.Action, len(fleet))
		for i := range fleet {
			last[fleet[i].ID] = fleet[i].Commanded.Action
		}
		live.Start(append([]policy.Miner(nil), fleet...), func(ctx context.Context, d policy.Decision) error {
			i, ok := idx[d.MinerID]
			if !ok {
				return fmt.Errorf("no miner %s", d.MinerID)
			}
			late := clock.NewOneShot(clk, time.Duration(plant[i].spec.LatencyS*float64(time.Second)))
			select {
			case <-late.C():
			case <-ctx.Done():
				late.Stop()
				return ctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			t := clk.Now().Sub(t0).Seconds()
			if command(i, d, t, last[d.MinerID] != d.Action, true) {
				return errors.New("firmware: command failed")
			}
			last[d.MinerID] = d.Action
			return nil
		})
	}

	steps := int(sc.DurationS / tick)
	for s := 0; s <= steps; s++ {
		t := float64(s) * tick
		now := Epoch.Add(time.Duration(t * float64(time.Second)))
		if isLive {
			now = t0.Add(time.Duration(t * float64(time.Second)))
		}
		mu.Lock()
		// Physics.
		var mining float64
		for i := range plant {
			plant[i].draw = plant[i].at(t)
			mining += plant[i].draw
		}
		cur := sample{ai: sc.AI(t), mining: mining}
		if sc.Unmetered != nil {
			cur.unmetered = sc.Unmetered(t)
		}
		hist = append(hist, cur)
		imp := cur.ai + cur.unmetered + cur.mining

		// Failed commands come back as errors: the miner's state is unknown.
		kept := fails[:0]
		for _, f := range fails {
			if t >= f.at {
				fleet[f.id].Commanded = policy.Command{Action: policy.ActionUnknown, Since: now}
			} else {
				kept = append(kept, f)
			}
		}
		fails = kept

		// Telemetry.
		for i := range plant {
			p := &plant[i]
			if p.spec.TelemetryS <= 0 || p.spec.Unproven || t < p.nextReport {
				continue
			}
			p.nextReport = t + p.spec.TelemetryS
			fleet[i].MeasuredKW = max(0, p.draw*(1+0.03*rng.NormFloat64()))
			fleet[i].MeasuredAt = now
		}

		// Meters.
		read := false
		for mi := range sc.Meters {
			m := &sc.Meters[mi]
			if t < nextRead[mi] {
				continue
			}
			nextRead[mi] = t + m.PeriodS
			past := truthAt(t - m.LagS)
			var v float64
			switch m.Role {
			case policy.RoleSiteImport:
				v = past.ai + past.unmetered + past.mining
			case policy.RoleAILoad:
				v = past.ai
			case policy.RoleMiningLoad:
				v = past.mining
			}
			v *= 1 + m.Noise*rng.NormFloat64()
			if in(m.Dropouts, t) {
				continue
			}
			if in(m.Garbage, t) {
				v = math.NaN()
			}
			if in(m.Lies, t) {
				v = m.LieKW
			}
			rd.Set(policy.Reading{Role: m.Role, Value: v, At: now})
			read = true
		}

		if isLive {
			if read || math.Mod(t, 1) == 0 {
				live.Feed(rd, fleet)
			}
		} else if len(restarts) > 0 && t >= restarts[0] {
			restarts = restarts[1:]
			ctl.Restart()
			for i := range fleet { // the store restores commands, not their ramps
				fleet[i].Commanded.Changed, fleet[i].Commanded.FromKW = time.Time{}, 0
			}
		}
		if !isLive && (read || math.Mod(t, 1) == 0) {
			for _, d := range ctl.Step(now, rd, fleet) {
				i := idx[d.MinerID]
				m := &fleet[i]
				changed := d.Action != m.Commanded.Action
				since := m.Commanded.Since
				if d.Action != m.Commanded.Action || since.IsZero() {
					since = now
				}
				from, _ := policy.DrawKW(cfg, m, now)
				m.Commanded = policy.Command{Action: d.Action, TargetKW: d.TargetKW, Since: since, Changed: now, FromKW: from}
				if command(i, d, t, changed, false) {
					fails = append(fails, pendingFail{at: t + plant[i].spec.LatencyS, id: i})
				}
			}
		}

		// Measure.
		limit := cfg.ImportLimitKW
		// Above the limit counts while mining contributes (load that alone exceeds the limit is
		// no controller's to fix) and once the firmware delay has passed since the other load
		// last rose: no controller acts before the load it answers.
		// The margin covers what the other load may rise within the firmware delay; a rise
		// beyond it (from the lowest point of the last firmware delay) restarts the clock.
		other := cur.ai + cur.unmetered
		low := other
		for k := max(0, len(hist)-1-int(allowed/tick)); k < len(hist)-1; k++ {
			low = math.Min(low, hist[k].ai+hist[k].unmetered)
		}
		if other-low > cfg.MarginKW {
			lastRise = t
		}
		if imp > limit+1e-9 && mining > 1e-6 {
			res.MaxOverKW = max(res.MaxOverKW, imp-limit)
			if t-lastRise > allowed {
				res.AboveLimitS += tick
			}
		}
		id := math.Min(math.Max(limit-cfg.MarginKW-cur.ai-cur.unmetered, 0), fleetKW)
		if siteFault(t) {
			id = math.Min(id, cfg.SafeFloorKW)
		}
		idealHist = append(idealHist, id)
		ideal += id * tick
		mined += math.Min(mining, id+hyst) * tick
		lo := id
		for k := max(0, len(idealHist)-window); k < len(idealHist); k++ {
			lo = math.Min(lo, idealHist[k])
		}
		lastLo = lo
		if gap := lo - slack - mining; gap > 0 && !siteFault(t) {
			res.OverShedKWs += gap * tick
			res.MaxOverShedKW = max(res.MaxOverShedKW, gap)
		}
		mu.Unlock()
		switch {
		case isStepped:
			stepped.Advance(time.Duration(tick * float64(time.Second)))
		case isLive:
			time.Sleep(time.Duration(tick * float64(time.Second)))
		}
	}
	if isLive {
		live.Stop()
	}
	if ideal > 0 {
		res.SpareUsedPct = 100 * math.Min(mined/ideal, 1)
	}
	res.FinalShortKW = math.Max(0, lastLo-slack-hist[len(hist)-1].mining)
	res.Stuck = res.FinalShortKW > 1e-9

	// Restore after each site meter fault: from the fault's end, how long until mining is
	// within one miner of the spare power again.
	for end := range faultEnds {
		k0 := int(end / tick)
		for k0 < len(hist) && siteFault(float64(k0)*tick) {
			k0++
		}
		if k0 >= len(hist) {
			continue
		}
		back := sc.DurationS - end
		for k := k0; k < len(hist); k++ {
			if hist[k].mining >= idealHist[k]-slack {
				back = float64(k)*tick - end
				break
			}
		}
		deficit := math.Max(0, idealHist[k0]-hist[k0].mining)
		bound := float64(k0)*tick - end + cfg.MinPause.D().Seconds() +
			math.Ceil(deficit/cfg.RestoreStepKW)*cfg.RestoreInterval.D().Seconds() + slowShed + 10
		res.RestoreS = max(res.RestoreS, back)
		res.RestoreBoundS = max(res.RestoreBoundS, bound)
	}

	// Dwell times.
	for _, h := range history {
		for k := 1; k < len(h); k++ {
			prev, cur := h[k-1], h[k]
			dwell := cur.t - prev.t
			switch {
			case cur.adopt:
			case cur.action == policy.ActionPause && !cur.safety && dwell < cfg.MinRun.D().Seconds():
				res.FastToggles++
			case prev.action == policy.ActionPause && cur.action != policy.ActionPause && dwell < cfg.MinPause.D().Seconds()-1e-9:
				res.FastToggles++
			}
		}
	}
	res.SpareUsedPct = math.Round(res.SpareUsedPct*100) / 100
	res.OverShedKWs = math.Round(res.OverShedKWs*10) / 10
	res.MaxOverKW = math.Round(res.MaxOverKW*100) / 100
	return res
}

type transition struct {
	t      float64
	action policy.Action
	safety bool
	adopt  bool // the controller acknowledged a miner of unknown state: no power toggle
}

func in(ws []Window, t float64) bool {
	for _, w := range ws {
		if w.Contains(t) {
			return true
		}
	}
	return false
}
