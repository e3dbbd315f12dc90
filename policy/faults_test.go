package policy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestFailedShedIsRetriedNeverWoken: a pause whose command failed (the firmware may have slept
// and only its answer been lost) is sent again after its back-off, even when the load has gone
// meanwhile; it is never turned into a run inside min_pause.
func TestFailedShedIsRetriedNeverWoken(t *testing.T) {
	cfg := simConfig()
	cfg.MaxParallel = 64
	clk := &manualClock{now: epoch}
	var mu sync.Mutex
	calls := map[string][]policy.Action{}
	gate := make(chan struct{})
	act := policy.ActuatorFunc(func(ctx context.Context, d policy.Decision) error {
		mu.Lock()
		calls[d.MinerID] = append(calls[d.MinerID], d.Action)
		first := len(calls[d.MinerID]) == 1
		mu.Unlock()
		if first {
			<-gate // answers only once the load is gone, and then with an error
			return errors.New("firmware: reply lost")
		}
		return nil
	})
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act})
	if err != nil {
		t.Fatal(err)
	}
	sub := r.Subscribe(1 << 14)
	for _, m := range testFleet(t, 20) {
		m.Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1530, At: epoch}) // budget 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for n := 0; n < 20; {
		waitFor(t, sub, "the pauses", func(ev policy.Event) bool { return ev.Kind == policy.EventDecision })
		n++
	}
	// The load goes away before the failures come back: a budget for the whole fleet.
	clk.Advance(time.Second)
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: clk.Now()})
	close(gate)
	for n := 0; n < 20; {
		waitFor(t, sub, "the failures", func(ev policy.Event) bool { return ev.Kind == policy.EventApplyFailed })
		n++
	}
	for s := 0; s < 40; s++ {
		clk.Advance(time.Second)
		r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 100, At: clk.Now()})
	}
	waitFor(t, sub, "a second command to every miner", func(policy.Event) bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, as := range calls {
			if len(as) >= 2 {
				n++
			}
		}
		return n == 20
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for id, as := range calls {
		if as[0] != policy.ActionPause || as[1] != policy.ActionPause {
			t.Errorf("%s was sent %v inside min_pause: a failed pause must be sent again, not turned into a run", id, as)
		}
	}
}

// TestReconnectDuringFlightKeepsTheCommand: a miner that reconnects while its pause is in
// flight comes back with that pause, not with the caller's older view (run).
func TestReconnectDuringFlightKeepsTheCommand(t *testing.T) {
	cfg := simConfig()
	clk := &manualClock{now: epoch}
	gate := make(chan struct{})
	held := heldUntil(gate)
	// entered names each miner whose command reached the actuator: in flight, not queued.
	entered := make(chan string, 64)
	act := policy.ActuatorFunc(func(ctx context.Context, d policy.Decision) error {
		select {
		case entered <- d.MinerID:
		default:
		}
		return held.Apply(ctx, d)
	})
	r, _ := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act})
	sub := r.Subscribe(4096)
	fleet := testFleet(t, 20)
	for i := range fleet {
		fleet[i].Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
		r.UpsertMiner(fleet[i])
	}
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1530, At: epoch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, sub, "a pause", func(ev policy.Event) bool {
		return ev.Kind == policy.EventDecision && ev.Decision.Action == policy.ActionPause
	})
	// A decision event says the pause was decided; it may still wait for a max_parallel slot.
	// Take a miner whose pause is in flight (a queued one removed is simply decided again).
	var id string
	select {
	case id = <-entered:
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("no pause reached the actuator")
	}
	var m policy.Miner
	for _, f := range fleet {
		if f.ID == id {
			m = f // its Commanded is the old run
		}
	}
	r.RemoveMiner(id)
	r.UpsertMiner(m)
	close(gate)
	waitFor(t, sub, "the pause applied", func(ev policy.Event) bool { return ev.Kind == policy.EventApplied && ev.Decision.MinerID == id })
	for _, ms := range r.Snapshot().Miners {
		if ms.ID == id && ms.Commanded.Action != policy.ActionPause {
			t.Fatalf("asleep, but the Runner believes %s", ms.Commanded.Action)
		}
	}
}

// TestRestoredPauseStillDrawingIsSeen: a paused miner restored after a reconnect or restart
// (no Changed) whose telemetry says it still draws is counted, so others shed for it.
func TestRestoredPauseStillDrawingIsSeen(t *testing.T) {
	s := newSite(t, func(c *policy.Config) { c.MarginKW = 1 })
	s.fleet[3].Commanded = policy.Command{Action: policy.ActionPause, Since: s.now.Add(-time.Hour)}
	s.fleet[3].MeasuredKW, s.fleet[3].MeasuredAt = 10, s.now // deaf d-old
	// Import 112: 72 kW other load + three running miners + d-old still at 10 kW.
	out := s.step(policy.RoleSiteImport, 112.0)
	if out.Basis.UnconfirmedKW != 10 || len(out.Decisions) == 0 {
		t.Fatalf("a paused miner drawing 10 kW went unseen: %+v %v", out.Basis, out.Decisions)
	}
}

// TestShedThrottleWithinMaxKW: a throttle shed never asks for more than max_kw (the firmware
// refuses it); it sheds a little more instead.
func TestShedThrottleWithinMaxKW(t *testing.T) {
	s := newSite(t, nil)
	s.fleet = s.fleet[:1] // a-eff: 10 kW at full power, power targets 4..8 kW
	s.fleet[0].Throttle = policy.ThrottleRange{MinKW: 4, MaxKW: 8}
	s.step(policy.RoleSiteImport, 90.0) // other load 80: budget 10, committed 10: nothing
	s.advance(time.Second)
	out := s.step(policy.RoleSiteImport, 91.0) // other load 81: budget 9, need 1
	if len(out.Decisions) != 1 || out.Decisions[0].Action != policy.ActionThrottle || out.Decisions[0].TargetKW != 8 {
		t.Fatalf("need 1 kW of a 10 kW miner whose max_kw is 8: %v", out.Decisions)
	}
}

// TestSlowAcknowledgementIsNotTakenAsDone: stock Antminer firmware can take ~21 s to answer a
// sleep. Until it answers, the shed is not taken as done, however short its ramp: the meter
// still showing the old draw is no reason to shed more miners.
func TestSlowAcknowledgementIsNotTakenAsDone(t *testing.T) {
	cfg := simConfig()
	clk := &manualClock{now: epoch}
	gate := make(chan struct{})
	act := heldUntil(gate)
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act})
	if err != nil {
		t.Fatal(err)
	}
	sub := r.Subscribe(1 << 14)
	var mining float64
	for _, m := range testFleet(t, 40) {
		m.Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
		m.Ramp = 5 * time.Second
		mining += m.RatedKW
		r.UpsertMiner(m)
	}
	// Other load 1400: budget 1500 - 60 - 1400 = 40 kW of about 130.
	imp := 1400 + mining
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: imp, At: epoch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { close(gate); cancel(); <-done }()
	first := 0
	waitFor(t, sub, "the first shed", func(ev policy.Event) bool {
		if ev.Kind == policy.EventDecision {
			first++
		}
		return first > 0 && r.Snapshot().Basis.CommittedKW <= 40+cfg.HysteresisKW/2
	})
	// Twenty seconds without an answer: the meter still shows the old draw.
	for s := 0; s < 20; s++ {
		clk.Advance(time.Second)
		r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: imp, At: clk.Now()})
	}
	for deadline := time.Now().Add(10 * time.Second); !r.Snapshot().Basis.At.Equal(clk.Now()); { // a hang guard
		if time.Now().After(deadline) {
			t.Fatal("no step for the last reading")
		}
		time.Sleep(time.Millisecond)
	}
	if b := r.Snapshot().Basis; b.CommittedKW < 40-cfg.HysteresisKW || b.InFlightKW <= 0 {
		t.Fatalf("sheds not yet answered were taken as done: committed %.1f kW, in flight %.1f kW", b.CommittedKW, b.InFlightKW)
	}
}

// heldUntil is a firmware that answers every command with success once gate is closed.
func heldUntil(gate <-chan struct{}) policy.Actuator {
	return policy.ActuatorFunc(func(ctx context.Context, d policy.Decision) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}
