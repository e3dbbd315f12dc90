package power

import (
	"context"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestWorkersSharingAnIPAreGatedNotCommanded: two workers behind one IP (NAT) without
// configured addresses must not have firmware commands or status polls sent to that IP (they
// could reach another machine); the gate still pauses them.
func TestWorkersSharingAnIPAreGatedNotCommanded(t *testing.T) {
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: []policy.FleetGroup{
		{Name: "nat", Pattern: "nat.*", Firmware: "luxos", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1, Port: 1},
	}})
	r.run()
	for _, w := range []string{"nat.a", "nat.b"} {
		r.stratum(w)
	}
	waitFor(t, "both miners with a valid share", func() bool {
		ids := r.px.Identities()
		return len(ids) == 2 && !ids[0].LastShare.IsZero() && !ids[1].LastShare.IsZero()
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "both proven", func() bool {
		a, _ := r.miner("nat.a")
		b, _ := r.miner("nat.b")
		return a.Proven && b.Proven
	})
	if targets := r.c.pollTargets(); len(targets) != 0 {
		t.Fatalf("telemetry would poll a shared IP: %+v", targets)
	}
	if err := r.c.SetCap(context.Background(), "user:ops", 0.1, r.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both miners paused at the gate", func() bool { return r.px.Status().Paused == 2 })
	waitFor(t, "both pauses applied", func() bool {
		a, _ := r.miner("nat.a")
		b, _ := r.miner("nat.b")
		return !a.Inflight && !b.Inflight && !a.Pending && !b.Pending && a.Commanded.Action == policy.ActionPause && b.Commanded.Action == policy.ActionPause
	})
	if res := r.c.FirmwareResults(); len(res) != 0 {
		t.Fatalf("firmware calls were sent to a shared IP: %+v", res)
	}
}
