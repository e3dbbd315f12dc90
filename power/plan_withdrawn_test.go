package power

import (
	"context"
	"testing"

	"github.com/hashgate/hashgate/policy"
)

// TestPlannedPauseWithdrawnByRunReopensGate: a pause planned but never applied (a site leader
// died between its plan and its order) is withdrawn by planning the run the miner still
// carries out: the gate reopens at once, with no firmware call, since the miner kept drawing.
// A miner whose last applied command was the pause stays gated until a run is confirmed, and
// an operator's hold stays whatever the policy plans.
func TestPlannedPauseWithdrawnByRunReopensGate(t *testing.T) {
	r := gatedRack(t)
	ctx := context.Background()
	run, pause := rackRun, rackPause
	for _, id := range []string{"rack.a", "rack.b", "rack.c"} {
		if err := r.c.Apply(ctx, run(id)); err != nil {
			t.Fatal(err)
		}
	}

	// a: runs, a pause is planned and never applied, then withdrawn.
	r.c.Plan([]policy.Decision{pause("rack.a")})
	if h := r.c.Holds("rack.a"); h != HoldPolicy || !r.gateClosed("rack.a") {
		t.Fatalf("a: holds %s after the planned pause", h)
	}
	r.c.Plan([]policy.Decision{run("rack.a")})
	if h := r.c.Holds("rack.a"); h != 0 || r.gateClosed("rack.a") {
		t.Fatalf("a: holds %s after the pause was withdrawn, want the gate open", h)
	}

	// b: the pause was applied; a planned run waits for its confirmation.
	r.c.Plan([]policy.Decision{pause("rack.b")})
	if err := r.c.Apply(ctx, pause("rack.b")); err != nil {
		t.Fatal(err)
	}
	r.c.Plan([]policy.Decision{run("rack.b")})
	if h := r.c.Holds("rack.b"); h != HoldPolicy || !r.gateClosed("rack.b") {
		t.Fatalf("b: holds %s after a run planned over an applied pause, want still gated", h)
	}

	// c: the operator's hold is not the policy's to lift.
	r.c.Plan([]policy.Decision{pause("rack.c")})
	if err := r.c.PauseWorker(ctx, "user:ops", "rack.c"); err != nil {
		t.Fatal(err)
	}
	r.c.Plan([]policy.Decision{run("rack.c")})
	if h := r.c.Holds("rack.c"); h != HoldOperator || !r.gateClosed("rack.c") {
		t.Fatalf("c: holds %s, want the operator's alone", h)
	}
}
