package power

import (
	"context"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// refusedSleepThenReconnect sheds rack.a under a cap while its firmware refuses the sleep,
// lets the gated miner drop its connection, then brings it back with a working firmware; the
// cap is cleared meanwhile when clearCap is set.
func refusedSleepThenReconnect(t *testing.T, clearCap bool) (*rig, map[string]*simfw.Miner) {
	fleet, sims := fleetWithBitaxes(t, "rack.a")
	pc := holdsPolicy()
	pc.ApplyTimeout = policy.Duration(3 * time.Second)
	pc.HysteresisKW = 1
	ctx := context.Background()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: fleet})
	r.run()
	r.stratum("rack.a")
	waitFor(t, "a share", func() bool {
		for _, id := range r.px.Identities() {
			if !id.LastShare.IsZero() {
				return true
			}
		}
		return false
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "adopted", func() bool { return r.c.runner.Snapshot().Applied >= 1 })

	sims["rack.a"].SetFaults(simfw.FaultRejectAuth)
	if err := r.c.SetCap(ctx, "user:ops", 0.1, r.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sleep refused", func() bool { return r.c.runner.Snapshot().ApplyFailed >= 1 })
	if h := r.c.Holds("rack.a"); h&HoldPolicy == 0 {
		t.Fatalf("holds %s after the shed: want the policy hold", h)
	}
	if sims["rack.a"].State().Sleeping {
		t.Fatal("the firmware slept although it refused the sleep")
	}

	// The gated miner drops its connection (no work) before the retry.
	r.hangup["rack.a"]()
	waitFor(t, "removed", func() bool {
		r.c.syncOnce()
		_, ok := r.miner("rack.a")
		return !ok
	})
	sims["rack.a"].SetFaults(0)
	if clearCap {
		if err := r.c.ClearCap(ctx, "user:ops"); err != nil {
			t.Fatal(err)
		}
	}
	r.stratum("rack.a")
	waitFor(t, "back in the runner", func() bool {
		r.c.syncOnce()
		_, ok := r.miner("rack.a")
		return ok
	})
	return r, sims
}

// stepUntil moves the rig's clock a second at a time, with a 100 kW site reading each step,
// until cond holds for rack.a as the policy sees it.
func stepUntil(t *testing.T, r *rig, what string, cond func(m policy.MinerStatus) bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		r.advance(time.Second)
		r.observe(100)
		m, _ := r.miner("rack.a")
		return cond(m)
	})
}

// TestReconnectAfterRefusedSleepLiftsStaleHold: a shed closes the gate, the firmware refuses
// the sleep (wrong credentials), and the gated miner, left without work, drops its connection
// before the retry. The Runner forgets the pending shed with the miner. When the miner comes
// back after the budget recovered, its gate and the policy's view of it must agree: the miner
// is re-decided and its gate opens, never a gate held shut by a decision nobody pursues.
func TestReconnectAfterRefusedSleepLiftsStaleHold(t *testing.T) {
	r, sims := refusedSleepThenReconnect(t, true)
	// The budget has room for it: the miner runs, with an open gate, and the policy counts
	// it running.
	stepUntil(t, r, "the gate open and the miner run", func(m policy.MinerStatus) bool {
		return r.c.Holds("rack.a") == 0 && m.Commanded.Action == policy.ActionRun && !m.Commanded.Pending &&
			!sims["rack.a"].State().Sleeping
	})
	if r.gateClosed("rack.a") {
		t.Fatal("the proxy still holds rack.a's gate closed")
	}
}

// TestReconnectAfterRefusedSleepShedsAgain: the same, with the cap still in force when the
// miner comes back: it is decided again as a pause, which its firmware now carries out, and its
// gate stays held for that live decision.
func TestReconnectAfterRefusedSleepShedsAgain(t *testing.T) {
	r, sims := refusedSleepThenReconnect(t, false)
	stepUntil(t, r, "the miner asleep under a settled pause", func(m policy.MinerStatus) bool {
		return m.Commanded.Action == policy.ActionPause && !m.Commanded.Pending && sims["rack.a"].State().Sleeping
	})
	if h := r.c.Holds("rack.a"); h != HoldPolicy || !r.gateClosed("rack.a") {
		t.Fatalf("paused again: holds %s, gate closed %v; want the policy hold", h, r.gateClosed("rack.a"))
	}
}
