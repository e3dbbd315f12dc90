package trace

import (
	"math"
	"math/rand/v2"

	"github.com/hashgate/hashgate/policy"
)

// Generate builds every committed trace. The scenarios assume a site with a 1500 kW import
// limit, about 650 kW of miners and an AI load near 800 kW.
func Generate() []*Trace {
	return []*Trace{
		aiSpike(), unconfirmedShed(), meterDropout(), flapping(), underFrequency(), drEvent(),
	}
}

// gen emits 1 Hz samples for the AI load, the frequency and the price.
type gen struct {
	rng *rand.Rand
	t   *Trace
}

func newGen(seed uint64, m Meta) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), t: &Trace{Meta: m}}
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// run samples ai(t) and hz(t) every second with measurement noise.
func (g *gen) run(ai func(t float64) float64, hz func(t float64) float64) *Trace {
	for s := 0; s < int(g.t.Meta.DurationS); s++ {
		t := float64(s)
		g.t.Samples = append(g.t.Samples,
			Sample{T: t, Role: policy.RoleAILoad, Value: round(ai(t)+g.rng.NormFloat64()*3, 1)},
			Sample{T: t, Role: policy.RoleFrequency, Value: round(hz(t)+g.rng.NormFloat64()*0.005, 3)},
		)
	}
	return g.t
}

func nominal(float64) float64 { return 60 }

func step(base float64, steps ...[2]float64) func(float64) float64 {
	return func(t float64) float64 {
		v := base
		for _, s := range steps {
			if t >= s[0] {
				v = s[1]
			}
		}
		return v
	}
}

func aiSpike() *Trace {
	return newGen(1, Meta{
		Name:        "ai_spike",
		Description: "AI load 800 kW jumps to 1150 kW in one second at t=300, falls to 900 kW at t=900",
		DurationS:   1800, ShedDelayS: 5, RestoreDelayS: 10,
	}).run(step(800, [2]float64{300, 1150}, [2]float64{900, 900}), nominal)
}

func unconfirmedShed() *Trace {
	return newGen(2, Meta{
		Name:        "unconfirmed_shed",
		Description: "the AI spike of ai_spike, with 30 miners whose firmware acknowledges sleep but keeps hashing",
		DurationS:   1200, ShedDelayS: 5, RestoreDelayS: 10, Unresponsive: 30,
	}).run(step(800, [2]float64{300, 1150}), nominal)
}

func meterDropout() *Trace {
	return newGen(3, Meta{
		Name:        "meter_dropout",
		Description: "site meter silent t=400..460, reports -9999 kW t=700..705, reports 40000 kW t=900..902",
		DurationS:   1500, ShedDelayS: 5, RestoreDelayS: 10,
		Faults: []MeterFault{
			{Window: Window{400, 460}, Role: policy.RoleSiteImport, Kind: "dropout"},
			{Window: Window{700, 705}, Role: policy.RoleSiteImport, Kind: "value", Value: -9999},
			{Window: Window{900, 902}, Role: policy.RoleSiteImport, Kind: "value", Value: 40000},
		},
	}).run(step(800), nominal)
}

func flapping() *Trace {
	return newGen(4, Meta{
		Name:        "flapping",
		Description: "AI load square wave 860/940 kW, period 20 s, from t=200 to t=1400",
		DurationS:   1800, ShedDelayS: 5, RestoreDelayS: 10,
	}).run(func(t float64) float64 {
		if t < 200 || t >= 1400 {
			return 800
		}
		if int(t/10)%2 == 0 {
			return 860
		}
		return 940
	}, nominal)
}

func underFrequency() *Trace {
	return newGen(5, Meta{
		Name:        "under_frequency",
		Description: "grid frequency dips to 59.55 Hz for 3 s at t=500",
		DurationS:   1800, ShedDelayS: 5, RestoreDelayS: 10,
	}).run(step(800), step(60, [2]float64{500, 59.55}, [2]float64{503, 59.98}, [2]float64{530, 60}))
}

func drEvent() *Trace {
	return newGen(6, Meta{
		Name:        "dr_event",
		Description: "demand-response event t=600..1200 caps site import at 1000 kW",
		DurationS:   1800, ShedDelayS: 5, RestoreDelayS: 10,
		DR: []DR{{Window: Window{600, 1200}, TargetKW: 1000}},
	}).run(step(800), nominal)
}
