package demo

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/store"
)

// TestDemoSiteFollowsPower runs the whole product against the simulators: miners mine
// through the proxy to the simulated pool; when the AI hall bursts, the policy engine reads
// the Modbus meters (grid, AI hall, mining feeder), pauses miners at the gate and puts them to sleep through their LuxOS and
// Braiins OS APIs; the meter confirms the import is back under the limit; when the burst ends
// mining is restored. Waits are for conditions; nothing asserts how fast.
func TestDemoSiteFollowsPower(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo")
	}
	d, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", Console: "127.0.0.1:0", Miners: 8, Dir: t.TempDir(),
		SpikeEvery: 80 * time.Second, SpikeFor: 25 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	wait := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				ai, mining, imp := d.Site.Power()
				t.Fatalf("timed out waiting for %s (ai %.1f mining %.1f import %.1f; status %+v)", what, ai, mining, imp, d.App.Proxy.Status())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("every miner running and shares accepted by the pool", 60*time.Second, func() bool {
		st := d.App.Proxy.Status()
		return st.Running == 8 && st.Shares["pool_accepted"] > 0
	})
	_, mining, _ := d.Site.Power()
	if mining < 20 {
		t.Fatalf("fleet draws %.1f kW before the burst, want it all running", mining)
	}
	// The policy reads the AI hall's own meter, and counts the load no sub-meter sees (the
	// grid meter less AI and mining) as other load too.
	wait("the AI meter and the unmetered load in the policy's view", 30*time.Second, func() bool {
		b, l := d.App.Power.Runner().Basis(), d.Site.Loads()
		return l.UnmeteredKW >= 4 && b.AILoadKW > 40 && math.Abs(b.AILoadKW-l.AIKW) < 1 &&
			b.NonMiningKW >= b.AILoadKW+l.UnmeteredKW-1
	})
	wait("the burst to shed miners", 90*time.Second, func() bool { return d.App.Proxy.Status().Paused > 0 })
	// Once the firmware has ramped down, the import meter must be under the limit.
	wait("import under the limit with the burst on", 30*time.Second, func() bool {
		ai, _, imp := d.Site.Power()
		return ai > 80 && imp <= 100
	})
	// A paused job stream alone does not cut an ASIC's power: the firmware must be asleep.
	wait("a miner's firmware asleep", 30*time.Second, func() bool {
		for _, m := range d.Miners {
			if d.Site.HashFraction(m.Worker()) == 0 {
				return true
			}
		}
		return false
	})
	wait("mining restored after the burst", 120*time.Second, func() bool {
		ai, mining, _ := d.Site.Power()
		return ai < 55 && mining > 24 && d.App.Proxy.Status().Paused == 0
	})
	ds, err := d.App.Store.Decisions(context.Background(), store.DecisionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var pauses, runs int
	for _, x := range ds {
		switch x.Action {
		case "pause":
			pauses++
		case "run", "throttle":
			runs++
		}
	}
	if pauses == 0 || runs == 0 {
		t.Fatalf("decisions recorded: %d pauses, %d runs", pauses, runs)
	}
}
