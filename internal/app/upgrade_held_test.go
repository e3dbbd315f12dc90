package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestHandOverFollowsGatesClosedDuringTheUpgrade: the old process's policy keeps deciding
// after the upgrade has started (here while the new process gets ready, and its gates are
// passed on the way the upgrade does: an unlinked file both hold). A gate-only miner it pauses
// then, after the held list was first written, reconnects to the new process and stays paused
// there while the old process is gone and the new one has no controller yet; the other miner
// mines on.
func TestHandOverFollowsGatesClosedDuringTheUpgrade(t *testing.T) {
	r := startUpgradeRig(t)
	ctx, old := r.ctx, r.old
	ms, _ := r.mine("acct.gated", "acct.free")
	gated, free := ms[0], ms[1]
	waitFor(t, "both miners mining", func() bool { return gated.Stats.Accepted.Load() > 0 && free.Stats.Accepted.Load() > 0 })

	// The upgrade starts: the held list goes to the new process as it is now (nothing held).
	oldHeld, newHeld := r.heldFiles()
	if err := oldHeld.Publish(old.Proxy.PausedWorkers()); err != nil {
		t.Fatal(err)
	}
	paused, _, err := newHeld.Read()
	if err != nil || len(paused) != 0 {
		t.Fatalf("held at the start: %v, %v", paused, err)
	}
	started, oldGone := r.takeOver(Handover{Paused: paused, Held: newHeld})
	// A curtailment: the policy pauses the gate-only miner (its Plan closes the gate).
	old.Power.Plan([]policy.Decision{{MinerID: "acct.gated", Action: policy.ActionPause}})
	waitFor(t, "the gated miner told it is paused", func() bool { return gated.Rejects()[26] > 0 })
	gatedConns, freeConns := gated.Stats.Connects.Load(), free.Stats.Connects.Load()
	if err := old.HandOver(ctx, 300*time.Millisecond, oldHeld); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both miners on the new process", func() bool {
		return gated.Stats.Connects.Load() > gatedConns && free.Stats.Connects.Load() > freeConns
	})
	// The free miner's shares are the time base: the gated one mines nothing meanwhile.
	freeAcc := free.Stats.Accepted.Load()
	waitFor(t, "the free miner mining on the new process", func() bool { return free.Stats.Accepted.Load() > freeAcc+3 })
	gatedAcc := gated.Stats.Accepted.Load()
	freeAcc = free.Stats.Accepted.Load()
	waitFor(t, "the free miner mining on", func() bool { return free.Stats.Accepted.Load() > freeAcc+5 })
	if n := gated.Stats.Accepted.Load(); n != gatedAcc {
		t.Fatalf("the miner the old policy paused mined %d shares on the new process before its controller started", n-gatedAcc)
	}
	select {
	case a := <-started:
		t.Fatalf("the new process finished starting (%v) before the old one was gone", a != nil)
	default:
	}
	close(oldGone)
	var a *App
	select {
	case a = <-started:
	case <-time.After(time.Minute):
		t.Fatal("the new process never opened the store")
	}
	if a == nil {
		t.FailNow()
	}
	defer a.Close()
	// The pause was a decision of the old policy only (not in the store): the new controller
	// decides afresh and, with no policy here, lets the miner go.
	gatedAcc = gated.Stats.Accepted.Load()
	waitFor(t, "the gated miner released by the new controller", func() bool { return gated.Stats.Accepted.Load() > gatedAcc })
}

// TestHandOverFollowsGatesClosedDuringTheDrain: the old process's policy pauses a gate-only
// miner during the drain, before the miner is told to reconnect: it reconnects to the new
// process paused and stays so once the old process is gone, until the new one's controller
// starts.
func TestHandOverFollowsGatesClosedDuringTheDrain(t *testing.T) {
	r := startUpgradeRig(t)
	ctx, old := r.ctx, r.old
	ms, _ := r.mine("acct.gated", "acct.free")
	gated, free := ms[0], ms[1]
	waitFor(t, "both miners mining", func() bool { return gated.Stats.Accepted.Load() > 0 && free.Stats.Accepted.Load() > 0 })

	oldHeld, newHeld := r.heldFiles()
	if err := oldHeld.Publish(old.Proxy.PausedWorkers()); err != nil {
		t.Fatal(err)
	}
	paused, _, err := newHeld.Read()
	if err != nil {
		t.Fatal(err)
	}
	started, oldGone := r.takeOver(Handover{Paused: paused, Held: newHeld})
	gatedConns := gated.Stats.Connects.Load()
	// Two miners over 6 s: the second is told at 3 s, the first closed at 2 s (ReconnectGrace).
	handed := make(chan error, 1)
	go func() { handed <- old.HandOver(ctx, 6*time.Second, oldHeld) }()
	// A curtailment during the drain.
	old.Power.Plan([]policy.Decision{{MinerID: "acct.gated", Action: policy.ActionPause}})
	waitFor(t, "the gated miner told it is paused", func() bool { return gated.Rejects()[26] > 0 })
	if gated.Stats.Connects.Load() != gatedConns {
		t.Fatal("the gated miner left before the decision: the test decided after the drain")
	}
	select {
	case err := <-handed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the hand-over never ended")
	}
	waitFor(t, "the gated miner on the new process", func() bool { return gated.Stats.Connects.Load() > gatedConns })
	// The old process is gone; the new one has no controller yet: the gate stays closed.
	gatedAcc, freeAcc := gated.Stats.Accepted.Load(), free.Stats.Accepted.Load()
	waitFor(t, "the free miner mining on", func() bool { return free.Stats.Accepted.Load() > freeAcc+5 })
	if n := gated.Stats.Accepted.Load(); n != gatedAcc {
		t.Fatalf("the miner paused during the drain mined %d shares after the old process was gone", n-gatedAcc)
	}
	select {
	case a := <-started:
		t.Fatalf("the new process finished starting (%v) before the old one was gone", a != nil)
	default:
	}
	close(oldGone)
	select {
	case a := <-started:
		if a != nil {
			a.Close()
		}
	case <-time.After(time.Minute):
		t.Fatal("the new process never opened the store")
	}
}

// TestHandOverBadHeldGatesFailsBeforeReady: a held-gates file the new process cannot read
// (garbage where a list should be) makes it fail before it says it is ready, naming the
// previous process: the gates it would hold are unknown, and the old process keeps serving.
func TestHandOverBadHeldGatesFailsBeforeReady(t *testing.T) {
	rig := startUpgradeRig(t)
	ctx, old := rig.ctx, rig.old
	w, r, raw := heldPair(t)
	if err := w.Publish(nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	st, err := raw.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.WriteAt([]byte("{\"not\":\"a list\"}\n"), st.Size()); err != nil {
		t.Fatal(err)
	}
	readied := false
	_, err = StartWith(ctx, &rig.f, zerolog.Nop(), Options{Listen: rig.socks.inherit, Handover: &Handover{
		Ready:      func() error { readied = true; return nil },
		ParentGone: func(context.Context) error { return nil },
		Held:       r,
	}})
	if err == nil || !strings.Contains(err.Error(), "previous process") {
		t.Fatalf("garbage held gates: %v, want an error naming the previous process", err)
	}
	if readied {
		t.Fatal("the new process said it was ready with unreadable held gates")
	}
	m := miner.New(miner.Config{Addr: old.Addrs[0].String(), Username: "acct.m1", HashRate: 20000})
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(mctx)
	}()
	defer func() {
		stop()
		<-done
	}()
	waitFor(t, "a miner mining on the old process", func() bool { return m.Stats.Accepted.Load() > 0 })
}
