package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/sim/site"
)

// Sample is the simulated site's truth at one instant: what its meters read, and the
// unmetered load only the simulator knows.
type Sample struct {
	At time.Time
	site.Loads
}

// SiteLimits is what a measurement judges a run against: the policy's limit and margin, the fleet
// and the AI hall's steady load (above it, the hall bursts).
type SiteLimits struct {
	LimitKW, MarginKW float64
	// FleetKW is the fleet's rated power, MinerKW its largest miner's.
	FleetKW, MinerKW float64
	AIBaseKW         float64
}

// SpareKW is the power mining could have used at one sample: the limit less the margin and
// every other load, at most the whole fleet, at least nothing.
func (s SiteLimits) SpareKW(l site.Loads) float64 {
	return min(max(s.LimitKW-s.MarginKW-l.AIKW-l.UnmeteredKW, 0), s.FleetKW)
}

// burstAboveKW is how far above its base the AI load must be to count as a burst: more than
// the hall's ripple, less than any burst.
const burstAboveKW = 0.5

// Report is what a measured run shows. Times are seconds since the first sample.
type Report struct {
	Site    SiteLimits
	Samples int
	// Seconds is the time the samples cover, Every the sampling period.
	Seconds, Every float64
	// AboveLimitS is how long the true import was above the limit (samples above it ×
	// Every); MaxImportKW the highest import seen.
	AboveLimitS, MaxImportKW float64
	// SpareKWh is the spare energy (SpareKW over time) and UsedKWh what mining drew of it
	// (mining beyond the spare eats the margin and counts as nothing).
	SpareKWh, UsedKWh float64
	// StartupS is how long after the first sample mining first came within one miner of the
	// spare (-1: never).
	StartupS float64
	Bursts   []Burst
}

// SpareUsedPct is UsedKWh as a share of SpareKWh.
func (r Report) SpareUsedPct() float64 {
	if r.SpareKWh == 0 {
		return 0
	}
	return 100 * r.UsedKWh / r.SpareKWh
}

// Burst is one AI burst: from the first sample above the hall's base load to the first one
// back at it.
type Burst struct {
	StartS, EndS float64 // EndS is -1 when the run ended inside the burst
	// LowestMiningKW is the least mining drew during the burst, SpareAtLowestKW the spare
	// power at that sample.
	LowestMiningKW, SpareAtLowestKW float64
	// AboveLimitS is how much of Report.AboveLimitS fell inside this burst.
	AboveLimitS float64
	// RestoreS is the time from the burst's end to mining within one miner of the spare (-1:
	// not before the next burst or the end of the run).
	RestoreS float64
}

// Analyze judges samples taken every period against s.
func Analyze(s SiteLimits, samples []Sample, every time.Duration) Report {
	r := Report{Site: s, Samples: len(samples), Every: every.Seconds(), StartupS: -1}
	if len(samples) == 0 {
		return r
	}
	t0 := samples[0].At
	since := func(x Sample) float64 { return x.At.Sub(t0).Seconds() }
	r.Seconds = since(samples[len(samples)-1]) + r.Every
	near := func(x Sample) bool { return x.MiningKW >= s.SpareKW(x.Loads)-s.MinerKW }
	var cur *Burst
	restoring := -1 // index in r.Bursts of the burst whose restore is awaited
	for _, x := range samples {
		spare := s.SpareKW(x.Loads)
		r.MaxImportKW = max(r.MaxImportKW, x.ImportKW)
		r.SpareKWh += spare * r.Every / 3600
		r.UsedKWh += min(x.MiningKW, spare) * r.Every / 3600
		if r.StartupS < 0 && near(x) {
			r.StartupS = since(x)
		}
		bursting := x.AIKW > s.AIBaseKW+burstAboveKW
		above := 0.0
		if x.ImportKW > s.LimitKW {
			above = r.Every
		}
		r.AboveLimitS += above
		switch {
		case bursting && cur == nil:
			r.Bursts = append(r.Bursts, Burst{StartS: since(x), EndS: -1, LowestMiningKW: x.MiningKW, SpareAtLowestKW: spare,
				AboveLimitS: above, RestoreS: -1})
			cur, restoring = &r.Bursts[len(r.Bursts)-1], -1
		case bursting:
			cur.AboveLimitS += above
			if x.MiningKW < cur.LowestMiningKW {
				cur.LowestMiningKW, cur.SpareAtLowestKW = x.MiningKW, spare
			}
		case cur != nil:
			cur.EndS, cur = since(x), nil
			restoring = len(r.Bursts) - 1
		}
		if restoring >= 0 && near(x) {
			b := &r.Bursts[restoring]
			b.RestoreS, restoring = since(x)-b.EndS, -1
		}
	}
	return r
}

// WriteTo prints the report for a person.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	secs := func(v float64, never string) string {
		if v < 0 {
			return never
		}
		return fmt.Sprintf("%.0f s", v)
	}
	var n int64
	p := func(format string, args ...any) {
		k, _ := fmt.Fprintf(w, format, args...)
		n += int64(k)
	}
	s := r.Site
	p("measured %.0f s (%d samples, every %.0f s) against the import limit %.0f kW, margin %.0f kW, fleet %.1f kW (one miner %.1f kW)\n",
		r.Seconds, r.Samples, r.Every, s.LimitKW, s.MarginKW, s.FleetKW, s.MinerKW)
	p("  above the import limit:  %.0f s (highest import %.1f kW)\n", r.AboveLimitS, r.MaxImportKW)
	p("  spare energy used:       %.1f %% (%.2f of %.2f kWh; spare = limit - margin - AI - unmetered, at most the fleet)\n",
		r.SpareUsedPct(), r.UsedKWh, r.SpareKWh)
	p("  start-up:                mining within one miner of the spare after %s\n", secs(r.StartupS, "never"))
	for i, b := range r.Bursts {
		end := "the end of the run"
		if b.EndS >= 0 {
			end = fmt.Sprintf("%.0f s", b.EndS)
		}
		restore := "not restored before the next burst or the end of the run"
		if b.RestoreS >= 0 {
			restore = fmt.Sprintf("mining within one miner of the spare %.0f s after it ended", b.RestoreS)
		}
		p("  burst %d (%.0f s to %s): %.0f s above the limit; lowest mining %.1f kW where %.1f kW was spare; %s\n",
			i+1, b.StartS, end, b.AboveLimitS, b.LowestMiningKW, b.SpareAtLowestKW, restore)
	}
	return n, nil
}

// Measure samples the site's truth every period until ctx ends and judges the samples against
// the demo's own policy and fleet.
func (d *Demo) Measure(ctx context.Context, every time.Duration) (Report, error) {
	if d.Site == nil {
		return Report{}, fmt.Errorf("demo: no simulated site to measure (the demo runs without a policy)")
	}
	var samples []Sample
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return Analyze(d.MeasuredSite(), samples, every), nil
		case now := <-t.C:
			samples = append(samples, Sample{At: now, Loads: d.Site.Loads()})
		}
	}
}

// MeasuredSite is the demo's site as a measurement sees it: limit and margin from the policy
// it runs, the fleet's rated power from the [[fleet]] group each simulated miner matches.
func (d *Demo) MeasuredSite() SiteLimits {
	s := SiteLimits{AIBaseKW: d.siteCfg.AIBaseKW}
	if p := d.Config.Policy; p != nil {
		s.LimitKW, s.MarginKW = p.ImportLimitKW, p.MarginKW
	}
	for _, m := range d.Miners {
		if g, ok := policy.MatchGroup(d.Config.Fleet, m.Worker(), netip.Addr{}); ok {
			s.FleetKW += g.RatedKW
			s.MinerKW = max(s.MinerKW, g.RatedKW)
		}
	}
	return s
}
