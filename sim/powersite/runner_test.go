package powersite_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/sim/powersite"
)

// liveRunner is hashgate's production control loop, policy.Runner, as a powersite.Live: it
// steps on its own timer and on every reading, applies decisions through the site's command
// function with bounded parallelism, retries failures and keeps its own commands in flight.
type liveRunner struct {
	cfg    policy.Config
	r      *policy.Runner
	cancel context.CancelFunc
	wg     sync.WaitGroup
	fed    [6]time.Time // per role
	power  map[string]time.Time
}

func (l *liveRunner) Name() string { return "hashgate-runner" }
func (l *liveRunner) Restart()     {}
func (l *liveRunner) Step(time.Time, policy.Readings, []policy.Miner) []policy.Decision {
	panic("a Live controller is not stepped")
}

func (l *liveRunner) Start(fleet []policy.Miner, command func(context.Context, policy.Decision) error) {
	r, err := policy.NewRunner(l.cfg, policy.RunnerOptions{Actuator: policy.ActuatorFunc(command)})
	if err != nil {
		panic(err)
	}
	l.r, l.power = r, map[string]time.Time{}
	for _, m := range fleet {
		r.UpsertMiner(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() { defer l.wg.Done(); _ = r.Run(ctx) }()
}

func (l *liveRunner) Feed(rd policy.Readings, fleet []policy.Miner) {
	for _, role := range policy.Roles() {
		if v, ok := rd.Get(role); ok && v.At.After(l.fed[role]) {
			l.fed[role] = v.At
			l.r.Observe(v)
		}
	}
	for _, m := range fleet {
		if !m.MeasuredAt.IsZero() && m.MeasuredAt.After(l.power[m.ID]) {
			l.power[m.ID] = m.MeasuredAt
			l.r.ObservePower(m.ID, m.MeasuredKW, m.MeasuredAt)
		}
	}
}

func (l *liveRunner) Stop() { l.cancel(); l.wg.Wait() }

// TestScenariosThroughRunner runs scenarios through the production Runner (its own steps,
// actuation in parallel goroutines, retries, commands in flight) in simulated time, and
// checks the same invariants as the engine alone.
func TestScenariosThroughRunner(t *testing.T) {
	for _, sc := range powersite.Scenarios() {
		if len(sc.Restarts) > 0 {
			continue // a restart of the Runner is the power package's (restart hold, replay)
		}
		t.Run(sc.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := powersite.Run(&sc, &liveRunner{cfg: sc.Config})
				t.Logf("%+v", r)
				checkLive(t, r)
			})
		})
	}
}

// checkLive checks what a site depends on for a production control loop: never above the
// limit beyond the firmware delay, no flapping, never stuck, a prompt restore, no over-shed,
// and the spare energy used.
func checkLive(t *testing.T, r powersite.Result) {
	t.Helper()
	if r.AboveLimitS > 0 {
		t.Errorf("%s: %.1f s above the import limit beyond the firmware delay", r.Controller, r.AboveLimitS)
	}
	if r.FastToggles > 0 {
		t.Errorf("%s: %d fast toggles", r.Controller, r.FastToggles)
	}
	if r.Stuck {
		t.Errorf("%s: stuck %.1f kW below the spare power", r.Controller, r.FinalShortKW)
	}
	if r.RestoreBoundS > 0 && r.RestoreS > r.RestoreBoundS {
		t.Errorf("%s: restore %.0f s (bound %.0f s)", r.Controller, r.RestoreS, r.RestoreBoundS)
	}
	if r.MaxOverShedKW > 15 {
		t.Errorf("%s: over-shed %.1f kW", r.Controller, r.MaxOverShedKW)
	}
	// A point below the engine alone: commands wait for their turn at max_parallel and
	// their firmware latency before their ramp begins.
	floor := 95.0
	if v, ok := minSpare[r.Scenario]; ok {
		floor = v
	}
	if r.SpareUsedPct < floor-1 {
		t.Errorf("%s: spare energy used %.2f %% (want >= %.1f %%)", r.Controller, r.SpareUsedPct, floor-1)
	}
}
