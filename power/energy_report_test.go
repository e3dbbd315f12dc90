package power

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// TestEnergyReportShowsTheShedGroup: two groups of two 3.5 kW gate-only miners on the real
// proxy, store and Runner, policy time on a manual clock. At a minute boundary T the site
// import reads 996 kW against a 1,000 kW limit with a 10 kW margin: the policy sheds the
// lower-priority group (7 kW) and keeps the other. Three minutes later the day's report shows
// for the shed group 3 curtailed minutes, one curtailment event and 3 x 7 kW x 1/60 h =
// 0.35 kWh shed, less at most what the policy counts as still drawing while the pause ramps
// (confirm_after, 20 s) and one sample period (5 s): 7 kW x 25 s = 0.0486 kWh. The other group
// shows nothing shed or curtailed, and 7 kW mined over each of the same minutes.
func TestEnergyReportShowsTheShedGroup(t *testing.T) {
	fleet := []policy.FleetGroup{
		{Name: "low", Pattern: "low.*", Firmware: policy.FirmwareNone, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1},
		{Name: "high", Pattern: "high.*", Firmware: policy.FirmwareNone, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 2},
	}
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: fleet})
	r.run()
	workers := []string{"low.a", "low.b", "high.a", "high.b"}
	for _, w := range workers {
		r.stratum(w)
	}
	waitFor(t, "a valid share from every miner", func() bool {
		k := 0
		for _, id := range r.px.Identities() {
			if !id.LastShare.IsZero() {
				k++
			}
		}
		return k == len(workers)
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "every miner adopted", func() bool { return r.c.runner.Snapshot().Applied >= uint64(len(workers)) })

	ctx := context.Background()
	rowAt := func(start time.Time) func() bool {
		return func() bool {
			gs, err := r.st.GroupEnergySeries(ctx, start, start.Add(time.Minute), "high")
			return err == nil && len(gs) == 1
		}
	}
	// The clock stops at each minute boundary until that minute's record is stored: the
	// sampler has then sampled exactly at the boundary. The first boundaries may pass before
	// the sampler took its first sample (which only starts the count).
	T := epoch.Add(time.Minute)
	r.advance(T.Sub(r.clk.Now()))
	for stored := false; !stored; {
		T = T.Add(time.Minute)
		r.advance(time.Minute)
		for wait := time.Now().Add(2 * time.Second); !stored && time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
			stored = rowAt(T.Add(-time.Minute))()
		}
		if T.Sub(epoch) > 30*time.Minute {
			t.Fatal("no group energy recorded in 30 minutes")
		}
	}

	r.observe(996)
	// Both pauses applied before time moves on: a decision waiting for max_parallel is sent
	// (its ramp starts) when its turn comes.
	waitFor(t, "the low group paused", func() bool {
		n := 0
		for _, m := range r.c.runner.Snapshot().Miners {
			if m.Group == "low" && m.Commanded.Action == policy.ActionPause && !m.Commanded.Pending && !m.Inflight && !m.Pending {
				n++
			}
		}
		return n == 2
	})
	for _, m := range r.c.runner.Snapshot().Miners {
		if m.Group == "high" && m.Commanded.Action != policy.ActionRun {
			t.Fatalf("high miner %s commanded %s", m.ID, m.Commanded.Action)
		}
	}
	for i := range 3 {
		for range 12 {
			r.advance(groupSample)
		}
		waitFor(t, "the record of a shed minute", rowAt(T.Add(time.Duration(i)*time.Minute)))
	}

	days, err := r.st.EnergyReport(ctx, epoch, epoch, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 {
		t.Fatalf("report days: %+v", days)
	}
	byGroup := map[string]store.GroupDay{}
	for _, g := range days[0].Groups {
		byGroup[g.Group] = g
	}
	low, high := byGroup["low"], byGroup["high"]
	const full, tol = 3 * 7.0 / 60, 7 * 25.0 / 3600
	if low.ShedKWh > full+1e-9 || low.ShedKWh < full-tol {
		t.Errorf("low shed %.4f kWh, want %.4f - %.4f", low.ShedKWh, full, tol)
	}
	if low.CurtailedMinutes != 3 || low.CurtailEvents != 1 {
		t.Errorf("low: %v curtailed minutes, %d events; want 3 and 1", low.CurtailedMinutes, low.CurtailEvents)
	}
	if low.MeasuredSamples != 0 || low.EstimatedSamples == 0 {
		t.Errorf("low sources: %d measured, %d estimated samples (gate-only miners report nothing)", low.MeasuredSamples, low.EstimatedSamples)
	}
	if high.ShedKWh != 0 || high.CurtailedMinutes != 0 || high.CurtailEvents != 0 {
		t.Errorf("high: %+v; want nothing shed", high)
	}
	// high ran at 7 kW through the three shed minutes and the minute before T (the first
	// recorded one); the minutes before that, if any, were recorded in full too.
	before := T.Sub(epoch.Add(time.Minute)).Minutes() - 1
	if want := 7.0 * (3 + 1 + before) / 60; math.Abs(high.MiningKWh-want) > 7.0/60+1e-9 || high.MiningKWh < 7.0*4/60-1e-9 {
		t.Errorf("high mined %.4f kWh, want about %.4f (at least 4 minutes at 7 kW)", high.MiningKWh, want)
	}
	if math.Abs(low.MiningKWh+low.ShedKWh-(high.MiningKWh)) > tol+1e-9 {
		t.Errorf("low mined %.4f + shed %.4f, high mined %.4f: the same fleet at full power", low.MiningKWh, low.ShedKWh, high.MiningKWh)
	}
}
