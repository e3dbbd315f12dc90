package policy_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestShedRefusedOnlyOnItsOwnSecondFailure: a restore that fails, then a shed that fails
// once. The shed is left to its retry, not taken as refused because the miner's restore
// failed before it (which would shed another miner in its place for min_pause). Its own
// second failure in a row makes it refused.
func TestShedRefusedOnlyOnItsOwnSecondFailure(t *testing.T) {
	cfg := simConfig()
	clk := &manualClock{now: epoch}
	var runFails, pauseFails atomic.Int32
	runFails.Store(1)
	pauseFails.Store(2)
	act := policy.ActuatorFunc(func(_ context.Context, d policy.Decision) error {
		switch {
		case d.Action == policy.ActionRun && runFails.Add(-1) >= 0:
			return errors.New("firmware: timeout")
		case d.Action == policy.ActionPause && pauseFails.Add(-1) >= 0:
			return errors.New("firmware: timeout")
		}
		return nil
	})
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act})
	if err != nil {
		t.Fatal(err)
	}
	sub := r.Subscribe(1024)
	m := testFleet(t, 1)[0]
	m.Commanded = policy.Command{Action: policy.ActionPause, Since: epoch.Add(-time.Hour)}
	r.UpsertMiner(m)
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1, At: epoch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, sub, "the failed restore", func(ev policy.Event) bool {
		return ev.Kind == policy.EventApplyFailed && ev.Decision.Action == policy.ActionRun
	})
	r.SetCap(0, epoch.Add(time.Hour))
	clk.Advance(5 * time.Second)
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1, At: clk.Now()})
	waitFor(t, sub, "one failed sleep", func(ev policy.Event) bool {
		return ev.Kind == policy.EventApplyFailed && ev.Decision.Action == policy.ActionPause
	})
	refused := func() (policy.Command, bool) {
		for _, s := range r.Snapshot().Miners {
			if s.ID == m.ID {
				return s.Commanded, s.Commanded.Refused
			}
		}
		t.Fatal("the miner is gone")
		return policy.Command{}, false
	}
	if c, ok := refused(); ok || !c.Pending {
		t.Fatalf("a shed that failed once: %+v, want pending and not refused", c)
	}
	// The retry after its back-off fails too: now it is refused.
	clk.Advance(time.Minute)
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1, At: clk.Now()})
	waitFor(t, sub, "the second failed sleep", func(ev policy.Event) bool {
		return ev.Kind == policy.EventApplyFailed && ev.Decision.Action == policy.ActionPause
	})
	if c, ok := refused(); !ok {
		t.Fatalf("a shed that failed twice in a row: %+v, want refused", c)
	}
}
