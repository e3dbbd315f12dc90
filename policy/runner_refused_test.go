package policy_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// refusalRig is a Runner over one miner whose firmware fails its first restores and sleeps.
type refusalRig struct {
	t   *testing.T
	r   *policy.Runner
	sub *policy.Subscription
	clk *manualClock
	m   policy.Miner
}

// startRefusalRig runs a Runner whose actuator fails the first runFails restores and the
// first pauseFails sleeps; the miner starts commanded as given.
func startRefusalRig(t *testing.T, runFails, pauseFails int32, commanded policy.Action) *refusalRig {
	var runs, pauses atomic.Int32
	runs.Store(runFails)
	pauses.Store(pauseFails)
	act := policy.ActuatorFunc(func(_ context.Context, d policy.Decision) error {
		switch {
		case d.Action == policy.ActionRun && runs.Add(-1) >= 0:
			return errors.New("firmware: timeout")
		case d.Action == policy.ActionPause && pauses.Add(-1) >= 0:
			return errors.New("firmware: authentication refused")
		}
		return nil
	})
	g := &refusalRig{t: t, clk: &manualClock{now: epoch}}
	r, err := policy.NewRunner(simConfig(), policy.RunnerOptions{Clock: g.clk, Actuator: act})
	if err != nil {
		t.Fatal(err)
	}
	g.r, g.sub = r, r.Subscribe(1024)
	g.m = testFleet(t, 1)[0]
	g.m.Commanded = policy.Command{Action: commanded, Since: epoch.Add(-time.Hour)}
	r.UpsertMiner(g.m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// step moves the clock on and feeds a reading, which steps the Runner.
func (g *refusalRig) step(d time.Duration, importKW float64) {
	g.clk.Advance(d)
	g.r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: importKW, At: g.clk.Now()})
}

// command is the miner's command as the Runner holds it.
func (g *refusalRig) command() policy.Command {
	for _, s := range g.r.Snapshot().Miners {
		if s.ID == g.m.ID {
			return s.Commanded
		}
	}
	g.t.Fatalf("miner %s gone", g.m.ID)
	return policy.Command{}
}

// await waits for the miner's next result of action: failed or applied.
func (g *refusalRig) await(what string, kind policy.EventKind, action policy.Action) {
	g.t.Helper()
	waitFor(g.t, g.sub, what, func(ev policy.Event) bool {
		return ev.Kind == kind && ev.Decision.MinerID == g.m.ID && ev.Decision.Action == action
	})
}

// TestRunnerMarksAShedRefusedTwice: the Runner leaves a single failed sleep to its retry, marks
// the shed refused at its second failure in a row (the engine then counts the miner's draw in
// the budget) and clears the mark when the firmware finally acknowledges it.
func TestRunnerMarksAShedRefusedTwice(t *testing.T) {
	g := startRefusalRig(t, 0, 2, policy.ActionRun)
	// A cap of 0 kW: the miner is shed.
	g.r.SetCap(0, epoch.Add(time.Hour))
	g.step(0, 100)
	failed := func(n int) {
		t.Helper()
		g.await("a refused sleep", policy.EventApplyFailed, policy.ActionPause)
		if c := g.command(); c.Action != policy.ActionPause || !c.Pending || c.Refused != (n >= 2) {
			t.Fatalf("after %d refusals: %+v, want a pending pause, refused %v", n, c, n >= 2)
		}
	}
	failed(1)
	// Past the back-off, a new reading steps the Runner and the sleep is sent again.
	g.step(5*time.Second, 100)
	failed(2)
	g.step(10*time.Second, 100)
	g.await("the sleep acknowledged", policy.EventApplied, policy.ActionPause)
	if c := g.command(); c.Action != policy.ActionPause || c.Pending || c.Refused {
		t.Fatalf("after the acknowledgement: %+v, want a settled pause, not refused", c)
	}
}

// TestShedRefusedOnlyOnItsOwnSecondFailure: a restore that fails, then a shed that fails
// once. The shed is left to its retry, not taken as refused because the miner's restore
// failed before it (which would shed another miner in its place for min_pause). Its own
// second failure in a row makes it refused.
func TestShedRefusedOnlyOnItsOwnSecondFailure(t *testing.T) {
	g := startRefusalRig(t, 1, 2, policy.ActionPause)
	g.step(0, 1)
	g.await("the failed restore", policy.EventApplyFailed, policy.ActionRun)
	g.r.SetCap(0, epoch.Add(time.Hour))
	g.step(5*time.Second, 1)
	g.await("one failed sleep", policy.EventApplyFailed, policy.ActionPause)
	if c := g.command(); c.Refused || !c.Pending {
		t.Fatalf("a shed that failed once: %+v, want pending and not refused", c)
	}
	// The retry after its back-off fails too: now it is refused.
	g.step(time.Minute, 1)
	g.await("the second failed sleep", policy.EventApplyFailed, policy.ActionPause)
	if c := g.command(); !c.Refused {
		t.Fatalf("a shed that failed twice in a row: %+v, want refused", c)
	}
}

// TestMinPauseCountsFromTheSleepThatLanded: a sleep the firmware refused and then took on a
// retry started when the retry was sent, not when the first try was. The miner may run again
// min_pause after that: counted from the first try, a sleep that landed 15 s late was
// restored 45 s after it (a power cycle inside min_pause).
func TestMinPauseCountsFromTheSleepThatLanded(t *testing.T) {
	g := startRefusalRig(t, 0, 2, policy.ActionRun)
	g.r.SetCap(0, epoch.Add(time.Hour))
	g.step(0, 100)
	g.await("the first refused sleep", policy.EventApplyFailed, policy.ActionPause)
	g.step(5*time.Second, 100)
	g.await("the second refused sleep", policy.EventApplyFailed, policy.ActionPause)
	g.step(10*time.Second, 100)
	g.await("the sleep acknowledged", policy.EventApplied, policy.ActionPause)
	landed := g.clk.Now()
	if c := g.command(); c.Pending || !c.Since.Equal(landed) {
		t.Fatalf("after the acknowledgement: %+v, want a settled pause since %v", c, landed)
	}
	// Room again: the miner waits out min_pause from the sleep that landed.
	g.r.ClearCap()
	for at := 5 * time.Second; at < time.Minute; at += 5 * time.Second {
		steps := g.r.Snapshot().Steps
		g.step(5*time.Second, 100)
		for g.r.Snapshot().Steps == steps {
			time.Sleep(time.Millisecond) // the Runner steps on its own goroutine
		}
		if c := g.command(); c.Action != policy.ActionPause {
			t.Fatalf("%v after the sleep landed (min_pause 1 min): %+v", at, c)
		}
	}
	g.step(5*time.Second, 100)
	g.await("the restore once min_pause has passed", policy.EventApplied, policy.ActionRun)
}
