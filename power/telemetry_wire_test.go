package power

import (
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
)

// TestTelemetryProvesAndMeasures: a session that never submits a share, whose firmware API
// answers that it runs, is proven by that answer, and its reported draw reaches the policy as
// its measured power. A session whose firmware never answers stays unproven.
func TestTelemetryProvesAndMeasures(t *testing.T) {
	addr, sim := bitaxe(t)
	fleet := []policy.FleetGroup{{Name: "rack", Pattern: "rack.*", Firmware: "bitaxe", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1,
		Addresses: map[string]string{"rack.t": addr, "rack.dead": deadAddr(t)}}}
	cfg := DefaultConfig()
	cfg.TelemetryInterval, cfg.TelemetryBackoffMax = tomltime.Duration(time.Second), tomltime.Duration(time.Minute)
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{cfg: cfg, policy: &pc, fleet: fleet})
	r.silent("rack.t")
	r.silent("rack.dead")
	waitFor(t, "two sessions", func() bool { return len(r.px.Identities()) == 2 })
	r.c.syncOnce()
	r.run()
	waitFor(t, "the poller's first round", func() bool { return r.c.Stats().Telemetry.Miners == 2 })
	for i := 0; ; i++ {
		if m, _ := r.miner("rack.t"); m.Proven && !m.MeasuredAt.IsZero() {
			break
		}
		if i == 100 {
			m, _ := r.miner("rack.t")
			t.Fatalf("no telemetry after 10 s of polling: %+v %+v %+v", m.Miner, r.c.Stats(), r.c.FirmwareResults())
		}
		r.clk.Advance(100 * time.Millisecond)
		waitFor(t, "status calls to return", func() bool { return r.c.Stats().Telemetry.InFlight == 0 })
	}
	m, _ := r.miner("rack.t")
	if want := sim.State().PowerW / 1000; math.Abs(m.MeasuredKW-want) > 0.01 {
		t.Fatalf("measured %.3f kW, the firmware reports %.3f kW", m.MeasuredKW, want)
	}
	if d, _ := r.miner("rack.dead"); d.Proven || !d.MeasuredAt.IsZero() {
		t.Fatalf("a miner whose firmware never answered: %+v", d.Miner)
	}
	ok := false
	for _, res := range r.c.FirmwareResults() {
		ok = ok || (res.Firmware == "bitaxe" && res.Command == "status" && res.Result == "ok" && res.Count > 0)
	}
	if !ok {
		t.Fatalf("status polls not counted: %+v", r.c.FirmwareResults())
	}
}
