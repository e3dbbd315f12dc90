package power

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// TestGroupLedgerSourcesShedAndCost: one minute of samples every 5 s over two groups. Group a:
// a miner reporting 3.2 kW (measured), a miner paused long ago (estimated 0 kW, 3.5 kW shed)
// and one throttled to 2 kW without telemetry (estimated 2 kW, 1.5 kW shed); group b: a
// running miner whose report is too old (estimated at its 2 kW rating) and an unproven
// session (left out). Price 80 per MWh for the first half minute, then the price meter
// faults.
func TestGroupLedgerSourcesShedAndCost(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	g := newGroupLedger(time.Minute, 30*time.Second, t0)
	fleet := func(now time.Time) []policy.MinerStatus {
		long := t0.Add(-time.Hour)
		return []policy.MinerStatus{
			{Miner: policy.Miner{ID: "a1", Group: "a", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true, MeasuredKW: 3.2, MeasuredAt: now.Add(-time.Second),
				Commanded: policy.Command{Action: policy.ActionRun, Since: long, Changed: long}}},
			{Miner: policy.Miner{ID: "a2", Group: "a", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
				Commanded: policy.Command{Action: policy.ActionPause, Since: long, Changed: long}}},
			{Miner: policy.Miner{ID: "a3", Group: "a", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
				Commanded: policy.Command{Action: policy.ActionThrottle, TargetKW: 2, Since: long, Changed: long}}},
			{Miner: policy.Miner{ID: "b1", Group: "b", RatedKW: 2, EfficiencyJTH: 20, Proven: true, MeasuredKW: 1, MeasuredAt: now.Add(-time.Minute),
				Commanded: policy.Command{Action: policy.ActionRun, Since: long, Changed: long}}},
			{Miner: policy.Miner{ID: "b2", Group: "b", RatedKW: 2}},
		}
	}
	var out []store.GroupEnergy
	for s := 0; s <= 60; s += 5 {
		now := t0.Add(time.Duration(s) * time.Second)
		if s == 10 {
			// Two decisions of one step shed group a: one event; a later step is another.
			g.shed("a", now)
			g.shed("a", now)
			g.shed("a", now.Add(time.Second))
		}
		out = append(out, g.sample(now, fleet(now), 80, s <= 30)...)
	}
	if len(out) != 2 || out[0].Group != "a" || out[1].Group != "b" || !out[0].Start.Equal(t0) || out[0].Length != time.Minute {
		t.Fatalf("closed: %+v", out)
	}
	a, b := out[0], out[1]
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("a measured kWh", a.MeasuredKWh, 3.2/60)
	near("a estimated kWh", a.EstimatedKWh, 2.0/60)
	near("a shed kWh", a.ShedKWh, (3.5+1.5)/60)
	near("a curtailed s", a.CurtailedSeconds, 60)
	near("a priced kWh", a.PricedKWh, 5.2/120)
	near("a cost", a.Cost, 5.2/120*80/1000)
	// 12 samples stand for the interval: those at 5 to 60 s (the first only starts the count).
	if a.MeasuredSamples != 12 || a.EstimatedSamples != 24 || a.CurtailEvents != 2 || a.Miners != 3 {
		t.Errorf("a counts: %+v", a)
	}
	near("b estimated kWh", b.EstimatedKWh, 2.0/60)
	near("b measured kWh", b.MeasuredKWh, 0)
	near("b shed kWh", b.ShedKWh, 0)
	near("b curtailed s", b.CurtailedSeconds, 0)
	if b.MeasuredSamples != 0 || b.EstimatedSamples != 12 || b.CurtailEvents != 0 || b.Miners != 1 {
		t.Errorf("b counts: %+v", b)
	}

	// Ten minutes without a sample (the process did not run): nothing is integrated for the
	// gap, whatever the next sample finds.
	late := t0.Add(11 * time.Minute)
	closed := g.sample(late, fleet(late), 0, false)
	for _, e := range closed {
		if e.MiningKWh()+e.ShedKWh+e.CurtailedSeconds != 0 {
			t.Errorf("gap integrated: %+v", e)
		}
	}
	// The sample after it counts again.
	next := late.Add(5 * time.Second)
	g.sample(next, fleet(next), 0, false)
	if e := g.acc["a"]; e == nil || math.Abs(e.ShedKWh-5.0*5/3600) > 1e-12 {
		t.Errorf("after the gap: %+v", e)
	}
}

// TestGroupLedgerRampAndStaleTelemetry: a pause not yet confirmed by the firmware is counted
// as still drawing what the miner drew before (no shed yet), as the policy's estimate does; a
// report from before the command is not used for the time after it.
func TestGroupLedgerRampAndStaleTelemetry(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	g := newGroupLedger(time.Minute, 30*time.Second, t0)
	m := policy.Miner{ID: "a1", Group: "a", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true, MeasuredKW: 3.4, MeasuredAt: t0.Add(-time.Second),
		Commanded: policy.Command{Action: policy.ActionPause, Since: t0, Changed: t0, FromKW: 3.4, Pending: true}}
	kw, measured := g.minerDraw(&m, t0.Add(time.Second))
	if measured || kw != 3.4 {
		t.Fatalf("pending pause: %v kW, measured %v; want the earlier 3.4 kW, estimated", kw, measured)
	}
	m.Commanded.Pending = false
	kw, measured = g.minerDraw(&m, t0.Add(time.Minute))
	if measured || kw != 0 {
		t.Fatalf("settled pause: %v kW, measured %v", kw, measured)
	}
	m.MeasuredKW, m.MeasuredAt = 0.05, t0.Add(50*time.Second)
	kw, measured = g.minerDraw(&m, t0.Add(time.Minute))
	if !measured || kw != 0.05 {
		t.Fatalf("report after the pause: %v kW, measured %v", kw, measured)
	}
	for _, bad := range []float64{math.NaN(), -1, 8} {
		m.MeasuredKW = bad
		if _, measured := g.minerDraw(&m, t0.Add(time.Minute)); measured {
			t.Errorf("implausible report %v used", bad)
		}
	}
}

// TestGroupEnergyQueueFullDrops: with nobody taking closed group intervals (a stalled store
// writer), the sampler never waits: each closed minute is dropped and counted as
// power_energy_full, and the sampler goes on sampling.
func TestGroupEnergyQueueFullDrops(t *testing.T) {
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc})
	r.c.runner.UpsertMiner(policy.Miner{ID: "g.1", Worker: "g.1", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	stalled := make(chan []store.GroupEnergy) // no room and no reader
	go func() {
		defer close(done)
		r.c.sampleGroups(ctx, stalled)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// Time moves a sample at a time until two closed minutes were dropped; the bound is far
	// beyond what a loaded machine needs.
	deadline := time.Now().Add(60 * time.Second)
	for r.c.Drops()["power_energy_full"] < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v of samples: %d drops", r.clk.Now().Sub(epoch), r.c.Drops()["power_energy_full"])
		}
		r.clk.Advance(groupSample)
		time.Sleep(time.Millisecond)
	}
}
