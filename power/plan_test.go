package power

import (
	"context"
	"fmt"
	"testing"
	"time"

	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// TestPlanClosesEveryGateBeforeFirmwareAnswers: a shed of 20 miners whose firmware APIs have
// stopped answering, with two firmware calls allowed in flight. Every gate is closed by the
// shed's own step, while both calls made so far still hang and 18 are not even started.
func TestPlanClosesEveryGateBeforeFirmwareAnswers(t *testing.T) {
	const n = 20
	var workers []string
	for i := range n {
		workers = append(workers, fmt.Sprintf("rack.%02d", i))
	}
	fleet, sims := fleetWithBitaxes(t, workers...)
	pc := holdsPolicy()
	pc.MaxParallel = 2
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: fleet})
	r.run()
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
		return k == n
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "every miner adopted", func() bool { return r.c.runner.Snapshot().Applied >= n })

	for _, w := range workers {
		sims[w].SetFaults(simfw.FaultStall)
	}
	before := r.c.Stats().Commands
	if err := r.c.SetCap(context.Background(), "user:ops", 0.1, r.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every gate closed", func() bool { return r.px.Status().Paused == n })
	for _, w := range workers {
		if h := r.c.Holds(w); h != HoldPolicy {
			t.Errorf("%s held for %s", w, h)
		}
		if sims[w].State().Sleeping {
			t.Errorf("%s asleep: a firmware call went through", w)
		}
	}
	for _, res := range r.c.FirmwareResults() {
		if res.Command == "sleep" {
			t.Fatalf("a sleep returned before the gates were checked: %+v", res)
		}
	}
	if got := r.c.Stats().Commands - before; got > uint64(pc.MaxParallel) {
		t.Fatalf("%d firmware commands started, max_parallel is %d", got, pc.MaxParallel)
	}
}
