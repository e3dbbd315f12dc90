package powersite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// SiteConfig is the policy of the simulated site: a 1 MW grid connection shared by an AI hall,
// load no sub-meter sees (cooling, offices) and about 540 kW of miners.
func SiteConfig() policy.Config {
	c := policy.DefaultConfig()
	c.ImportLimitKW = 1000
	c.MarginKW = 30
	c.SafeFloorKW = 100
	c.StaleAfter = policy.Duration(5 * time.Second)
	c.MinRun = policy.Duration(2 * time.Minute)
	c.MinPause = policy.Duration(time.Minute)
	c.RestoreStepKW = 300
	c.RestoreInterval = policy.Duration(10 * time.Second)
	c.HysteresisKW = 5
	c.ConfirmAfter = policy.Duration(20 * time.Second)
	c.MaxJumpKW = 600
	return c
}

// Fleet is the simulated site's miners: S21s on Braiins OS (power targets, fast), M50s on
// LuxOS (on/off, fast), S19s on stock firmware (on/off, slow to answer and to ramp).
func Fleet() []MinerSpec {
	return []MinerSpec{
		{Group: "s21", Count: 60, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 2, ThrottleMinKW: 1.5, LatencyS: 1, RampS: 8},
		{Group: "m50", Count: 40, RatedKW: 3.3, EfficiencyJTH: 26, Priority: 2, LatencyS: 1, RampS: 4},
		{Group: "s19", Count: 60, RatedKW: 3.25, EfficiencyJTH: 29.5, Priority: 1, LatencyS: 3, RampS: 12},
	}
}

func siteMeters(roles ...policy.Role) []MeterSpec {
	out := []MeterSpec{{Role: policy.RoleSiteImport, PeriodS: 1, LagS: 1, Noise: 0.002}}
	for _, r := range roles {
		out = append(out, MeterSpec{Role: r, PeriodS: 1, LagS: 1, Noise: 0.002})
	}
	return out
}

func constant(kw float64) Load { return func(float64) float64 { return kw } }

// bursts is an AI load at base with bursts to peak: every `every` seconds from `first`, a
// burst ramping up over `up` seconds, holding, and ramping down over 5 s, `length` long.
func bursts(base, peak, first, every, length, up float64) Load {
	return func(t float64) float64 {
		if t < first {
			return base
		}
		ph := math.Mod(t-first, every)
		switch {
		case ph < up:
			return base + (peak-base)*ph/up
		case ph < length-5:
			return peak
		case ph < length:
			return base + (peak-base)*(length-ph)/5
		}
		return base
	}
}

func steps(base float64, at []float64, kw []float64) Load {
	return func(t float64) float64 {
		v := base
		for i, a := range at {
			if t >= a {
				v = kw[i]
			}
		}
		return v
	}
}

// Scenarios returns the named scenarios, in order.
func Scenarios() []Scenario {
	cfg := SiteConfig()
	mk := func(name, desc string, mut func(*Scenario)) Scenario {
		sc := Scenario{Name: name, Description: desc, DurationS: 1200, Config: cfg, Fleet: Fleet(),
			AI: bursts(350, 700, 120, 400, 150, 2), Unmetered: constant(60), Meters: siteMeters(policy.RoleAILoad),
			Seed: uint64(len(name))}
		if mut != nil {
			mut(&sc)
		}
		return sc
	}
	with := func(f func(g *MinerSpec)) []MinerSpec {
		fl := Fleet()
		for i := range fl {
			f(&fl[i])
		}
		return fl
	}
	return []Scenario{
		mk("ai_spike", "AI hall 350 kW bursts to 700 kW in 2 s for 150 s, every 400 s", nil),
		mk("ai_ramp", "AI load ramps 300 to 750 kW over 5 min and back", func(s *Scenario) {
			s.AI = func(t float64) float64 {
				switch {
				case t < 200:
					return 300
				case t < 500:
					return 300 + 450*(t-200)/300
				case t < 700:
					return 750
				case t < 1000:
					return 750 - 450*(t-700)/300
				}
				return 300
			}
		}),
		mk("ai_oscillation", "AI load square wave 560/620 kW, period 20 s, near the budget edge", func(s *Scenario) {
			s.AI = func(t float64) float64 {
				if t > 100 && t < 1100 && math.Mod(t, 20) < 10 {
					return 620
				}
				return 560
			}
		}),
		mk("unmetered_step", "cooling steps 60 -> 260 kW that no sub-meter sees, AI meter healthy and flat", func(s *Scenario) {
			s.AI = constant(350)
			s.Unmetered = steps(60, []float64{300, 800}, []float64{260, 60})
		}),
		mk("ai_meter_dropout", "the AI sub-meter is silent for 6 s during each burst", func(s *Scenario) {
			s.Meters[1].Dropouts = []Window{{130, 136}, {530, 536}, {930, 936}}
		}),
		mk("mining_meter_dropout", "a mining sub-meter is silent for 6 s during each burst", func(s *Scenario) {
			s.Meters = siteMeters(policy.RoleMiningLoad)
			s.Meters[1].Dropouts = []Window{{130, 136}, {530, 536}, {930, 936}}
		}),
		mk("site_meter_dropout", "the site meter is silent for 60 s at t=300 (AI at base)", func(s *Scenario) {
			s.AI = bursts(350, 700, 600, 1000, 150, 2)
			s.Meters[0].Dropouts = []Window{{300, 360}}
		}),
		mk("site_meter_garbage", "the site meter sends unusable values for 10 s at t=300", func(s *Scenario) {
			s.AI = bursts(350, 700, 600, 1000, 150, 2)
			s.Meters[0].Garbage = []Window{{300, 310}}
		}),
		mk("lagging_meter", "site meter only, 3 s lag, 2 s period, slow firmware (over-shed bait); confirm_after 30 s covers the slowest ramp plus the lag", func(s *Scenario) {
			s.Meters = []MeterSpec{{Role: policy.RoleSiteImport, PeriodS: 2, LagS: 3, Noise: 0.002}}
			s.Fleet = with(func(g *MinerSpec) { g.RampS *= 1.5 })
			s.Config.ConfirmAfter = policy.Duration(30 * time.Second)
		}),
		mk("deaf_firmware", "10 of every group acknowledge sleep and keep hashing", func(s *Scenario) {
			s.Fleet = with(func(g *MinerSpec) { g.Deaf = 10 })
		}),
		mk("firmware_failures", "a fifth of all commands fail (timeouts, refused logins)", func(s *Scenario) {
			s.Fleet = with(func(g *MinerSpec) { g.FailRate = 0.2 })
		}),
		mk("noisy_meter", "site meter noise 1 % (10 kW at the limit); hysteresis_kw 20", func(s *Scenario) {
			s.Meters[0].Noise = 0.01
			s.Config.HysteresisKW = 20
		}),
		mk("controller_restart", "the controller restarts during a burst and after it", func(s *Scenario) {
			s.Restarts = []float64{180, 400}
		}),
		mk("telemetry", "every miner reports measured power every 5 s", func(s *Scenario) {
			s.Fleet = with(func(g *MinerSpec) { g.TelemetryS = 5 })
		}),
		mk("unproven_sessions", "30 sessions authorize and never hash, with better priority than the fleet", func(s *Scenario) {
			s.Fleet = append(s.Fleet, MinerSpec{Group: "idle", Count: 30, RatedKW: 3.5, EfficiencyJTH: 10, Priority: 9, Unproven: true})
		}),
		mk("site_meter_only", "no sub-meters at all", func(s *Scenario) {
			s.Meters = siteMeters()
		}),
	}
}

// Random returns a seeded random scenario: a random AI trace (bursts, ramps, oscillation),
// unmetered steps, a random meter set with random faults, and a random fleet.
func Random(seed uint64) Scenario {
	rng := rand.New(rand.NewPCG(seed, 0xa1))
	cfg := SiteConfig()
	sc := Scenario{Name: fmt.Sprintf("random_%d", seed), DurationS: 1200, Config: cfg, Seed: seed}
	base := 250 + 150*rng.Float64()
	type seg struct{ t, kw float64 }
	var segs []seg
	for t := 0.0; t < sc.DurationS; t += 20 + 200*rng.Float64() {
		segs = append(segs, seg{t, base + 450*rng.Float64()*float64(rng.IntN(2))})
	}
	osc := rng.Float64() < 0.3
	sc.AI = func(t float64) float64 {
		v := base
		for i, s := range segs {
			if t < s.t {
				break
			}
			v = s.kw
			if i+1 < len(segs) && segs[i+1].t-t < 3 { // ramps of 3 s between levels
				v += (segs[i+1].kw - s.kw) * (3 - (segs[i+1].t - t)) / 3
			}
		}
		if osc {
			v += 30 * math.Sin(t/4)
		}
		return v
	}
	um := 40 + 80*rng.Float64()
	stepAt, stepKW := 200+600*rng.Float64(), 150*rng.Float64()
	sc.Unmetered = func(t float64) float64 {
		if t >= stepAt && t < stepAt+300 {
			return um + stepKW
		}
		return um
	}
	var roles []policy.Role
	if rng.IntN(2) == 0 {
		roles = append(roles, policy.RoleAILoad)
	}
	if rng.IntN(2) == 0 {
		roles = append(roles, policy.RoleMiningLoad)
	}
	sc.Meters = siteMeters(roles...)
	for i := range sc.Meters {
		sc.Meters[i].LagS = 2 * rng.Float64()
		sc.Meters[i].Noise = 0.005 * rng.Float64()
		if i > 0 && rng.IntN(2) == 0 {
			at := 100 + 900*rng.Float64()
			sc.Meters[i].Dropouts = []Window{{at, at + 2 + 20*rng.Float64()}}
		}
	}
	// The operator measured the site meter's lag and sets the hysteresis band above its
	// noise (three sigma).
	sc.Config.MeterLag = policy.Duration(time.Duration((sc.Meters[0].LagS + sc.Meters[0].PeriodS/2) * float64(time.Second)))
	sc.Config.HysteresisKW = max(sc.Config.HysteresisKW, math.Ceil(3*sc.Meters[0].Noise*cfg.ImportLimitKW))
	sc.Fleet = Fleet()
	for i := range sc.Fleet {
		g := &sc.Fleet[i]
		g.Count = 10 + rng.IntN(60)
		g.LatencyS = 0.5 + 3*rng.Float64()
		g.RampS = 2 + 15*rng.Float64()
		if rng.IntN(4) == 0 {
			g.TelemetryS = 5 + 10*rng.Float64()
		}
	}
	return sc
}
