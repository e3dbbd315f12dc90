package power

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestOnlyProvenMinersGetBudget: 30 sessions that authorize and never submit a share and 6
// miners that do, all through the proxy. Only the 6 are proven; the policy budgets, adopts and
// counts them alone, and never commands the 30 (unknown sessions, not miners).
func TestOnlyProvenMinersGetBudget(t *testing.T) {
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: []policy.FleetGroup{
		{Name: "rack", Pattern: "rack.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1},
	}})
	r.run()
	for i := range 30 {
		r.silent(fmt.Sprintf("rack.idle-%02d", i))
	}
	var hashing []string
	for i := range 6 {
		w := fmt.Sprintf("rack.mine-%02d", i)
		hashing = append(hashing, w)
		r.stratum(w)
	}
	waitFor(t, "36 authorized sessions", func() bool { return len(r.px.Identities()) == 36 })
	waitFor(t, "a valid share from each of the 6", func() bool {
		n := 0
		for _, id := range r.px.Identities() {
			if !id.LastShare.IsZero() {
				n++
			}
		}
		return n == 6
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "the 6 adopted", func() bool {
		n := 0
		for _, w := range hashing {
			if m, ok := r.miner(w); ok && m.Commanded.Action == policy.ActionRun {
				n++
			}
		}
		return n == 6
	})
	snap := r.c.runner.Snapshot()
	if len(snap.Miners) != 36 {
		t.Fatalf("the policy knows %d sessions, want 36", len(snap.Miners))
	}
	for _, m := range snap.Miners {
		mining := m.ID[:9] == "rack.mine"
		if m.Proven != mining {
			t.Errorf("%s: proven %v", m.ID, m.Proven)
		}
		if !mining && m.Commanded.Action != policy.ActionUnknown {
			t.Errorf("%s never submitted and was commanded %s", m.ID, m.Commanded.Action)
		}
	}
	if b := snap.Basis; math.Abs(b.FleetKW-6*3.5) > 1e-9 || math.Abs(b.CommittedKW-6*3.5) > 1e-9 {
		t.Fatalf("fleet %.1f kW, committed %.1f kW; want the 6 proven miners' 21 kW", b.FleetKW, b.CommittedKW)
	}
	for _, d := range snap.Recent {
		if d.MinerID[:9] != "rack.mine" {
			t.Errorf("decision for an unproven session: %s", d)
		}
	}

	// Proof expires: a miner that comes back and stops submitting is unknown again once its
	// last share is older than proven_window, while the others stay proven by newer shares.
	r.hangup[hashing[0]]()
	waitFor(t, hashing[0]+" gone", func() bool { return len(r.px.Identities()) == 35 })
	r.silent(hashing[0])
	waitFor(t, hashing[0]+" back, silent", func() bool { return len(r.px.Identities()) == 36 })
	r.advance(DefaultConfig().ProvenWindow.D() + time.Second)
	now := r.clk.Now()
	waitFor(t, "a share from the 5 still hashing after the window", func() bool {
		n := 0
		for _, id := range r.px.Identities() {
			if !id.LastShare.Before(now) {
				n++
			}
		}
		return n == 5
	})
	r.c.syncOnce()
	for i, w := range hashing {
		if m, _ := r.miner(w); m.Proven != (i != 0) {
			t.Errorf("%s after the window: proven %v", w, m.Proven)
		}
	}
}
