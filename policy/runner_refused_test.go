package policy_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestRunnerMarksAShedRefusedTwice: the Runner leaves a single failed sleep to its retry, marks
// the shed refused at its second failure in a row (the engine then counts the miner's draw in
// the budget) and clears the mark when the firmware finally acknowledges it.
func TestRunnerMarksAShedRefusedTwice(t *testing.T) {
	cfg := simConfig()
	clk := &manualClock{now: epoch}
	var refusals atomic.Int32
	refusals.Store(2)
	act := policy.ActuatorFunc(func(_ context.Context, d policy.Decision) error {
		if d.Action == policy.ActionPause && refusals.Add(-1) >= 0 {
			return errors.New("firmware: authentication refused")
		}
		return nil
	})
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act})
	if err != nil {
		t.Fatal(err)
	}
	sub := r.Subscribe(1024)
	m := testFleet(t, 1)[0]
	m.Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
	r.UpsertMiner(m)
	// A cap of 0 kW: the miner is shed.
	r.SetCap(0, epoch.Add(time.Hour))
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: epoch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	command := func() policy.Command {
		for _, s := range r.Snapshot().Miners {
			if s.ID == m.ID {
				return s.Commanded
			}
		}
		t.Fatalf("miner %s gone", m.ID)
		return policy.Command{}
	}
	failed := func(n int) {
		t.Helper()
		waitFor(t, sub, "a refused sleep", func(ev policy.Event) bool {
			return ev.Kind == policy.EventApplyFailed && ev.Decision.MinerID == m.ID
		})
		if c := command(); c.Action != policy.ActionPause || !c.Pending || c.Refused != (n >= 2) {
			t.Fatalf("after %d refusals: %+v, want a pending pause, refused %v", n, c, n >= 2)
		}
	}
	failed(1)
	// Past the back-off, a new reading steps the Runner and the sleep is sent again.
	clk.Advance(5 * time.Second)
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: clk.Now()})
	failed(2)
	clk.Advance(10 * time.Second)
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: clk.Now()})
	waitFor(t, sub, "the sleep acknowledged", func(ev policy.Event) bool {
		return ev.Kind == policy.EventApplied && ev.Decision.MinerID == m.ID
	})
	if c := command(); c.Action != policy.ActionPause || c.Pending || c.Refused {
		t.Fatalf("after the acknowledgement: %+v, want a settled pause, not refused", c)
	}
}
