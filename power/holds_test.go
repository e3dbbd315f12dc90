package power

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// fleetWithBitaxes is a group of miners whose ESP-Miner APIs are simulated on loopback, one
// per worker, at configured addresses.
func fleetWithBitaxes(t *testing.T, workers ...string) ([]policy.FleetGroup, map[string]*simfw.Miner) {
	g := policy.FleetGroup{Name: "rack", Pattern: "rack.*", Firmware: "bitaxe", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1,
		Addresses: map[string]string{}}
	sims := map[string]*simfw.Miner{}
	for _, w := range workers {
		g.Addresses[w], sims[w] = bitaxe(t)
	}
	return []policy.FleetGroup{g}, sims
}

// holdsPolicy restores after a minute's pause, one step per 30 s, with room for every miner.
func holdsPolicy() policy.Config {
	pc := testPolicy()
	pc.MinPause, pc.MinRun = policy.Duration(time.Minute), 0
	pc.RestoreStepKW = 100
	return pc
}

// rackFleet is one group, rack, of miners with no firmware API.
func rackFleet() []policy.FleetGroup {
	return []policy.FleetGroup{{Name: "rack", Pattern: "rack.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}}
}

// gatedRack is a rig under holdsPolicy over rackFleet whose silent sessions rack.a, rack.b
// and rack.c are connected and synced into the policy, so the tests plan and apply by hand.
func gatedRack(t *testing.T) *rig {
	t.Helper()
	pc := holdsPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: rackFleet()})
	for _, w := range []string{"rack.a", "rack.b", "rack.c"} {
		r.silent(w)
	}
	waitFor(t, "three sessions", func() bool { return len(r.px.Identities()) == 3 })
	r.c.syncOnce()
	return r
}

// rackRun is the policy's decision to run id of group rack.
func rackRun(id string) policy.Decision {
	return policy.Decision{MinerID: id, Group: "rack", Action: policy.ActionRun, TargetKW: 3.5, Reason: policy.ReasonRestore}
}

// rackPause is the policy's decision to pause id of group rack.
func rackPause(id string) policy.Decision {
	return policy.Decision{MinerID: id, Group: "rack", Action: policy.ActionPause, FromKW: 3.5, Reason: policy.ReasonImportLimit}
}

func (r *rig) waitHolds(worker string, want Hold) {
	r.t.Helper()
	waitFor(r.t, worker+" held for "+want.String(), func() bool { return r.c.Holds(worker) == want })
}

// TestOperatorHoldsAgainstThePolicy: an operator's pause survives the policy's restore and a
// restart, and an operator's resume does not open a gate the policy holds.
func TestOperatorHoldsAgainstThePolicy(t *testing.T) {
	workers := []string{"rack.a", "rack.b", "rack.c"}
	fleet, sims := fleetWithBitaxes(t, workers...)
	pc := holdsPolicy()
	dbPath := filepath.Join(t.TempDir(), "hashgate.db")
	st := openStore(t, dbPath)
	poolAddr := startPool(t)
	ctx := context.Background()

	r := newRig(t, poolAddr, rigOptions{policy: &pc, fleet: fleet, store: st})
	r.run()
	for _, w := range workers {
		r.stratum(w)
	}
	waitFor(t, "three miners with a valid share", func() bool {
		n := 0
		for _, id := range r.px.Identities() {
			if !id.LastShare.IsZero() {
				n++
			}
		}
		return n == 3
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "three miners adopted", func() bool { return r.c.runner.Snapshot().Applied >= 3 })

	// The policy sheds everything: every gate closed, every miner asleep.
	if err := r.c.SetCap(ctx, "user:ops", 0.1, r.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, w := range workers {
		r.waitHolds(w, HoldPolicy)
		waitFor(t, w+" asleep", func() bool { return sims[w].State().Sleeping })
	}
	// The operator pauses a, and pauses and resumes b: b's gate stays closed, the policy holds it.
	for _, op := range []func() error{
		func() error { return r.c.PauseWorker(ctx, "user:ops", "rack.a") },
		func() error { return r.c.PauseWorker(ctx, "user:ops", "rack.b") },
		func() error { return r.c.ResumeWorker(ctx, "user:ops", "rack.b") },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	if h := r.c.Holds("rack.b"); h != HoldPolicy || !r.gateClosed("rack.b") {
		t.Fatalf("operator resume of a policy-held miner: holds %s, gate closed %v", h, r.gateClosed("rack.b"))
	}
	r.waitHolds("rack.a", HoldPolicy|HoldOperator)

	// The cap goes; after min_pause the policy restores b and c and not a.
	if err := r.c.ClearCap(ctx, "user:ops"); err != nil {
		t.Fatal(err)
	}
	r.advance(pc.MinPause.D() + time.Second)
	r.observe(100)
	for _, w := range []string{"rack.b", "rack.c"} {
		r.waitHolds(w, 0)
		waitFor(t, w+" awake", func() bool { return !sims[w].State().Sleeping })
	}
	if h := r.c.Holds("rack.a"); h&HoldOperator == 0 || !r.gateClosed("rack.a") || !sims["rack.a"].State().Sleeping {
		t.Fatalf("the policy restore undid the operator's pause of a: holds %s, asleep %v", h, sims["rack.a"].State().Sleeping)
	}
	// b and c are awake, but their runs are carried out only once the firmware's read-back
	// confirms them, and a read-back retried (a loaded box) waits a confirm interval on the
	// manual clock. Stopped before that, the runs end cancelled, and the restart rightly keeps
	// b held as the pause last confirmed: time moves until the Runner holds both runs done.
	waitFor(t, "b's and c's runs confirmed", func() bool {
		for _, w := range []string{"rack.b", "rack.c"} {
			if m, ok := r.miner(w); !ok || m.Commanded.Action != policy.ActionRun || m.Commanded.Pending || m.Inflight || m.Pending {
				r.advance(time.Second)
				return false
			}
		}
		return true
	})
	r.stop()

	// Restart: a new proxy and Controller on the same store. a is held before it connects.
	clk := clock.NewManual(r.clk.Now().Add(time.Minute))
	r2 := newRig(t, poolAddr, rigOptions{policy: &pc, fleet: fleet, store: st, clk: clk})
	if h := r2.c.Holds("rack.a"); h&HoldOperator == 0 {
		t.Fatalf("after the restart a is held for %s, want operator", h)
	}
	r2.run()
	ma := r2.stratum("rack.a")
	mb := r2.stratum("rack.b")
	waitFor(t, "b mining after the restart", func() bool { return mb.Stats.Jobs.Load() > 0 && mb.Stats.Submitted.Load() > 0 })
	r2.advance(time.Second)
	r2.observe(100)
	r2.advance(pc.RestoreInterval.D() + pc.MinPause.D())
	r2.observe(100)
	waitFor(t, "the runner to step after the restart", func() bool { return r2.c.runner.Snapshot().Steps > 3 })
	if n := ma.Stats.Jobs.Load(); n != 0 || !r2.gateClosed("rack.a") {
		t.Fatalf("the operator-held miner got %d jobs after the restart", n)
	}
	if m, _ := r2.miner("rack.a"); !m.OperatorHold || !m.Proven {
		t.Fatalf("after the restart the policy sees a as %+v", m.Miner)
	}
}

// TestRestartHoldsPausedMiners: miners the previous run left paused are gated from their
// first connection; the policy's first decision for them takes the gate over.
func TestRestartHoldsPausedMiners(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "hashgate.db"))
	if err := st.RecordDecisions(context.Background(),
		storeDecision(&policy.Decision{MinerID: "rack.a", Action: policy.ActionPause, Reason: policy.ReasonImportLimit, Basis: policy.Basis{At: epoch}}),
		storeDecision(&policy.Decision{MinerID: "rack.b", Action: policy.ActionRun, TargetKW: 3.5, Reason: policy.ReasonRestore, Basis: policy.Basis{At: epoch}}),
	); err != nil {
		t.Fatal(err)
	}
	pc := holdsPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: rackFleet(), store: st, clk: clock.NewManual(epoch.Add(10 * time.Second))})
	if h, hb := r.c.Holds("rack.a"), r.c.Holds("rack.b"); h != HoldRestart || hb != 0 {
		t.Fatalf("before any connection: a held for %s, b for %s", h, hb)
	}
	r.run()
	ma, mb := r.stratum("rack.a"), r.stratum("rack.b")
	waitFor(t, "b mining", func() bool { return mb.Stats.Submitted.Load() > 0 })
	r.advance(time.Second)
	r.observe(100)
	// a may authorize after the sync advance ran (a loaded box): sync again until both are in.
	waitFor(t, "the policy to know both", func() bool {
		r.c.syncOnce()
		_, ok := r.miner("rack.a")
		_, okb := r.miner("rack.b")
		return ok && okb
	})
	if n := ma.Stats.Jobs.Load(); n != 0 || !r.gateClosed("rack.a") {
		t.Fatalf("the miner paused before the restart got %d jobs", n)
	}
	if m, _ := r.miner("rack.a"); !m.Proven || m.Commanded.Action != policy.ActionPause {
		t.Fatalf("the policy sees a as %+v, want proven and paused", m.Miner)
	}
	// min_pause after the previous run's pause, the policy restores a: the restart hold
	// becomes the policy's, and the confirmed run opens the gate.
	r.advance(pc.MinPause.D())
	r.observe(100)
	r.waitHolds("rack.a", 0)
	waitFor(t, "a mining", func() bool { return ma.Stats.Jobs.Load() > 0 })
}

// TestConfirmedRunOpensOnlyAnUnheldGate: the gate opens on a confirmed run only when no other
// reason holds it: not over an operator's hold, not when a newer pause was planned meanwhile;
// a restart hold becomes the policy's at its first decision.
func TestConfirmedRunOpensOnlyAnUnheldGate(t *testing.T) {
	r := gatedRack(t)
	ctx := context.Background()
	run, pause := rackRun, rackPause

	// a: paused by the policy and by the operator; the policy's restore leaves the operator's hold.
	r.c.Plan([]policy.Decision{pause("rack.a")})
	if err := r.c.PauseWorker(ctx, "user:ops", "rack.a"); err != nil {
		t.Fatal(err)
	}
	r.c.Plan([]policy.Decision{run("rack.a")})
	if err := r.c.Apply(ctx, run("rack.a")); err != nil {
		t.Fatal(err)
	}
	if h := r.c.Holds("rack.a"); h != HoldOperator || !r.gateClosed("rack.a") {
		t.Fatalf("a: holds %s after the policy's restore", h)
	}

	// b: a run in flight when the next step plans a pause: its confirmation keeps the gate shut.
	r.c.Plan([]policy.Decision{pause("rack.b")})
	r.c.Plan([]policy.Decision{run("rack.b")})
	r.c.Plan([]policy.Decision{pause("rack.b")})
	if err := r.c.Apply(ctx, run("rack.b")); err != nil {
		t.Fatal(err)
	}
	if h := r.c.Holds("rack.b"); h != HoldPolicy || !r.gateClosed("rack.b") {
		t.Fatalf("b: holds %s after a stale run confirmation", h)
	}

	// c: held since the previous run; a run decision keeps it gated until confirmed.
	r.c.mu.Lock()
	r.c.setHoldsLocked("rack.c", r.c.minerLocked("rack.c"), HoldRestart, r.clk.Now())
	r.c.mu.Unlock()
	r.c.Plan([]policy.Decision{run("rack.c")})
	if h := r.c.Holds("rack.c"); h != HoldPolicy || !r.gateClosed("rack.c") {
		t.Fatalf("c: holds %s after its first decision, before the confirmation", h)
	}
	if err := r.c.Apply(ctx, run("rack.c")); err != nil {
		t.Fatal(err)
	}
	if h := r.c.Holds("rack.c"); h != 0 || r.gateClosed("rack.c") {
		t.Fatalf("c: holds %s after the confirmed run", h)
	}
}

// TestImpossibleThrottleSleepsAndHolds: a shed that cannot be a throttle (ESP-Miner has no
// power target) still sheds: the firmware sleeps the miner and its gate is held for safety.
// The shed is done, so the Runner is told it succeeded (an error would make it send the
// throttle again, waking and sleeping the miner every retry); a later confirmed run lifts
// the hold.
func TestImpossibleThrottleSleepsAndHolds(t *testing.T) {
	fleet, sims := fleetWithBitaxes(t, "rack.x")
	pc := holdsPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: fleet})
	r.silent("rack.x")
	waitFor(t, "the session", func() bool { return len(r.px.Identities()) == 1 })
	r.c.syncOnce()
	ctx := context.Background()
	throttle := policy.Decision{MinerID: "rack.x", Group: "rack", Action: policy.ActionThrottle, TargetKW: 2, FromKW: 3.5, Reason: policy.ReasonImportLimit}
	r.c.Plan([]policy.Decision{throttle})
	if err := r.c.Apply(ctx, throttle); err != nil {
		t.Fatalf("a shed carried out by sleeping reported %v", err)
	}
	if h := r.c.Holds("rack.x"); h != HoldSafety || !r.gateClosed("rack.x") || !sims["rack.x"].State().Sleeping {
		t.Fatalf("after the fallback: holds %s, asleep %v", h, sims["rack.x"].State().Sleeping)
	}
	run := policy.Decision{MinerID: "rack.x", Group: "rack", Action: policy.ActionRun, TargetKW: 3.5, Reason: policy.ReasonRestore}
	r.c.Plan([]policy.Decision{run})
	if err := r.c.Apply(ctx, run); err != nil {
		t.Fatal(err)
	}
	if h := r.c.Holds("rack.x"); h != 0 || r.gateClosed("rack.x") || sims["rack.x"].State().Sleeping {
		t.Fatalf("after a confirmed run: holds %s", h)
	}
}

// TestRestartRestoresWhatWasConfirmed: a run decided just before the shutdown but never
// confirmed by the firmware is not restored as a run (the miner may still be asleep, and a
// miner believed running is never decided again): the last confirmed pause is, gate held.
// A run never confirmed at all leaves the miner to be decided afresh.
func TestRestartRestoresWhatWasConfirmed(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "hashgate.db"))
	ctx := context.Background()
	pause := policy.Decision{MinerID: "rack.a", Action: policy.ActionPause, FromKW: 3.5, Reason: policy.ReasonImportLimit, Basis: policy.Basis{At: epoch}}
	run := policy.Decision{MinerID: "rack.a", Action: policy.ActionRun, TargetKW: 3.5, Reason: policy.ReasonRestore, Basis: policy.Basis{At: epoch.Add(time.Minute)}}
	runB := policy.Decision{MinerID: "rack.b", Action: policy.ActionRun, TargetKW: 3.5, Reason: policy.ReasonRestore, Basis: policy.Basis{At: epoch}}
	applied := policy.Event{At: epoch.Add(2 * time.Second), Kind: policy.EventApplied, Decision: pause}
	if err := NewAudit(st).RecordBatch(ctx, []policy.Decision{pause, run, runB}, []policy.Event{applied}); err != nil {
		t.Fatal(err)
	}
	pc := holdsPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: rackFleet(), store: st, clk: clock.NewManual(epoch.Add(2 * time.Minute))})
	if h, hb := r.c.Holds("rack.a"), r.c.Holds("rack.b"); h != HoldRestart || hb != 0 {
		t.Fatalf("a (confirmed pause, unconfirmed run) held for %s; b (unconfirmed run) for %s", h, hb)
	}
	r.c.mu.Lock()
	ra, rb := r.c.minerLocked("rack.a").restored, r.c.minerLocked("rack.b").restored
	r.c.mu.Unlock()
	if ra == nil || ra.Action != policy.ActionPause || rb != nil {
		t.Fatalf("restored a %+v, b %+v", ra, rb)
	}
}
