package policy_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// manualClock moves only when told to.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c    chan time.Time
	at   time.Time
	done bool
}

func (t *manualTimer) C() <-chan time.Time { return t.c }
func (t *manualTimer) Stop() bool {
	was := !t.done
	t.done = true
	return was
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTimer(d time.Duration) policy.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: make(chan time.Time, 1), at: c.now.Add(d)}
	c.timers = append(c.timers, t)
	return t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			t.c <- c.now
			continue
		}
		if !t.done {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// plantActuator is the simulated miners' control API: it records what each miner was told,
// fails a miner's first call when asked to, and measures its own concurrency.
type plantActuator struct {
	mu       sync.Mutex
	state    map[string]policy.Action
	failOnce map[string]bool
	active   int
	peak     int
	gate     chan struct{} // when set, every call waits for a token
}

func (p *plantActuator) Apply(ctx context.Context, d policy.Decision) error {
	p.mu.Lock()
	p.active++
	p.peak = max(p.peak, p.active)
	fail := p.failOnce[d.MinerID]
	delete(p.failOnce, d.MinerID)
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.active--; p.mu.Unlock() }()
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("firmware: connection refused")
	}
	p.mu.Lock()
	p.state[d.MinerID] = d.Action
	p.mu.Unlock()
	return nil
}

// memAudit keeps the audit trail in memory.
type memAudit struct {
	mu        sync.Mutex
	decisions []policy.Decision
	events    []policy.Event
}

func (a *memAudit) RecordDecision(_ context.Context, d policy.Decision) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.decisions = append(a.decisions, d)
	return nil
}

func (a *memAudit) RecordEvent(_ context.Context, ev policy.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, ev)
	return nil
}

// waitFor reads events until pred holds.
func waitFor(t *testing.T, sub *policy.Subscription, what string, pred func(policy.Event) bool) policy.Event {
	t.Helper()
	timeout := time.After(10 * time.Second) // a hang guard, not a timing assertion
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatalf("stream closed waiting for %s", what)
			}
			if pred(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s", what)
		}
	}
}

func TestRunnerShedsAppliesAndRecovers(t *testing.T) {
	cfg := simConfig()
	cfg.MaxParallel = 3
	clk := &manualClock{now: epoch}
	act := &plantActuator{state: map[string]policy.Action{}, failOnce: map[string]bool{"s19-0009": true}, gate: make(chan struct{})}
	audit := &memAudit{}
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	sub := r.Subscribe(4096)
	for _, m := range testFleet(t, 40) {
		m.Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	// 40 miners ≈ 130 kW; AI at 1400 leaves a budget of 40 kW: about 27 miners shed.
	r.Observe(policy.Reading{Role: policy.RoleAILoad, Value: 1400, At: epoch})
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1530, At: epoch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	var sheds int
	for sheds < 20 {
		ev := waitFor(t, sub, "shed decisions", func(ev policy.Event) bool { return ev.Kind == policy.EventDecision })
		if ev.Decision.Reason == policy.ReasonImportLimit && ev.Decision.Action == policy.ActionPause {
			sheds++
		}
	}
	// Release the actuator one call at a time until every shed seen so far was answered and
	// the failing miner's call was among them (calls run in parallel, so its turn may come
	// after the first 20 sheds).
	applied, failed := 0, 0
	for (applied+failed < sheds || failed == 0) && applied+failed < 40 {
		act.gate <- struct{}{}
		ev := waitFor(t, sub, "apply result", func(ev policy.Event) bool {
			return ev.Kind == policy.EventApplied || ev.Kind == policy.EventApplyFailed
		})
		if ev.Kind == policy.EventApplyFailed {
			failed++
			if ev.Decision.MinerID != "s19-0009" || ev.Err == "" {
				t.Fatalf("unexpected failure %+v", ev)
			}
		} else {
			applied++
		}
	}
	close(act.gate) // from now on calls go straight through
	act.mu.Lock()
	peak := act.peak
	act.mu.Unlock()
	if peak > cfg.MaxParallel {
		t.Fatalf("peak concurrency %d > max_parallel %d", peak, cfg.MaxParallel)
	}
	if failed != 1 {
		t.Fatalf("failed %d, want 1", failed)
	}
	// The failed miner is unknown again; after its backoff the engine sheds it again and
	// the retry succeeds.
	clk.Advance(3 * time.Second)
	// The AI load rises a little more, beyond the shed deadband (half the hysteresis band).
	r.Observe(policy.Reading{Role: policy.RoleAILoad, Value: 1406, At: clk.Now()})
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1440, At: clk.Now()})
	waitFor(t, sub, "retry of the failed miner", func(ev policy.Event) bool {
		return ev.Kind == policy.EventApplied && ev.Decision.MinerID == "s19-0009" && ev.Decision.Action == policy.ActionPause
	})

	snap := r.Snapshot()
	if snap.Basis.Mode != policy.ModeNormal || snap.Basis.BudgetKW <= 0 || len(snap.Miners) != 40 || snap.ApplyFailed != 1 {
		t.Fatalf("snapshot %+v", snap.Basis)
	}
	var committed float64
	act.mu.Lock()
	defer act.mu.Unlock()
	for _, m := range snap.Miners {
		if m.Commanded.Action == policy.ActionRun {
			committed += m.RatedKW
		} else if m.Commanded.Action == policy.ActionThrottle {
			committed += m.Commanded.TargetKW
		}
		if m.Commanded.Action == policy.ActionPause && act.state[m.ID] != policy.ActionPause && !m.Inflight && !m.Pending {
			t.Errorf("%s commanded pause but the plant was never told", m.ID)
		}
	}
	if committed > snap.Basis.BudgetKW+cfg.HysteresisKW/2+1e-9 { // the shed deadband: half the hysteresis band
		t.Fatalf("committed %.2f > budget %.2f", committed, snap.Basis.BudgetKW)
	}

	// The site meter goes silent: the tick alone must bring the safe floor.
	for range 7 {
		clk.Advance(time.Second)
	}
	waitFor(t, sub, "safe floor", func(ev policy.Event) bool {
		return ev.Kind == policy.EventNote && ev.Note.Kind == policy.NoteModeChanged && ev.Note.Mode == policy.ModeSafeFloor
	})

	act.mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	act.mu.Lock()
	if err := r.Run(context.Background()); !errors.Is(err, policy.ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	if _, ok := <-sub.C(); ok {
		// drain: the channel must end closed
		for range sub.C() {
		}
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	if len(audit.decisions) < sheds || len(audit.events) == 0 {
		t.Fatalf("audit has %d decisions, %d events", len(audit.decisions), len(audit.events))
	}
}

func TestSubscriptionDropsOldest(t *testing.T) {
	cfg := simConfig()
	clk := &manualClock{now: epoch}
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: policy.ActuatorFunc(func(context.Context, policy.Decision) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	slow := r.Subscribe(2)
	fast := r.Subscribe(4096)
	for _, m := range testFleet(t, 20) {
		m.Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1530, At: epoch}) // over the limit: budget 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var last policy.Event
	for n := 0; n < 20; {
		last = waitFor(t, fast, "applied", func(ev policy.Event) bool { return ev.Kind == policy.EventApplied })
		n++
	}
	cancel()
	<-done
	var got []policy.Event
	for ev := range slow.C() {
		got = append(got, ev)
	}
	if len(got) != 2 || slow.Dropped() == 0 || got[1].Seq < last.Seq {
		t.Fatalf("slow subscriber kept %d events (last seq %d, newest %d), dropped %d", len(got), got[len(got)-1].Seq, last.Seq, slow.Dropped())
	}
	if got[0].Seq+1 != got[1].Seq || uint64(len(got))+slow.Dropped() != got[1].Seq {
		t.Fatalf("kept %d and %d, dropped %d: not the newest", got[0].Seq, got[1].Seq, slow.Dropped())
	}
}

func TestChainJoinsErrorsAndRunsAll(t *testing.T) {
	var calls []string
	e1 := errors.New("gate")
	a := policy.Chain(
		policy.ActuatorFunc(func(context.Context, policy.Decision) error { calls = append(calls, "gate"); return e1 }),
		policy.ActuatorFunc(func(context.Context, policy.Decision) error { calls = append(calls, "firmware"); return nil }),
	)
	err := a.Apply(context.Background(), policy.Decision{MinerID: "x"})
	if !errors.Is(err, e1) || len(calls) != 2 {
		t.Fatalf("err %v calls %v", err, calls)
	}
}

// TestStopKeepsInFlightResults: a Runner stopped while commands are in flight records every
// one's result in the audit trail before it returns.
func TestStopKeepsInFlightResults(t *testing.T) {
	cfg := simConfig()
	cfg.MaxParallel = 8
	clk := &manualClock{now: epoch}
	var started sync.WaitGroup
	started.Add(8)
	var calls atomic.Int64
	act := policy.ActuatorFunc(func(ctx context.Context, d policy.Decision) error {
		if calls.Add(1) <= 8 {
			started.Done()
		}
		<-ctx.Done() // a firmware that answers only when told to give up
		return ctx.Err()
	})
	audit := &memAudit{}
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Clock: clk, Actuator: act, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range testFleet(t, 20) {
		m.Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 1530, At: epoch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	started.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	var results int
	for _, ev := range audit.events {
		if ev.Kind == policy.EventApplied || ev.Kind == policy.EventApplyFailed {
			results++
		}
	}
	if n := int(calls.Load()); results != n || n < 8 {
		t.Fatalf("%d actuator calls, %d results in the audit trail", n, results)
	}
}
