package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// recordingOwner is an instance's Controller side that carries every order out at once and
// records, per miner, the last action planned (what its gate wants) and the last applied.
type recordingOwner struct {
	mu      sync.Mutex
	want    map[string]policy.Action
	applied map[string]policy.Action
	log     []string
}

func newRecordingOwner() *recordingOwner {
	return &recordingOwner{want: map[string]policy.Action{}, applied: map[string]policy.Action{}}
}

func (r *recordingOwner) Plan(ds []policy.Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		r.want[d.MinerID] = d.Action
		r.log = append(r.log, "plan "+d.MinerID+" "+d.Action.String())
	}
}

func (r *recordingOwner) Apply(_ context.Context, d policy.Decision) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied[d.MinerID] = d.Action
	r.log = append(r.log, "apply "+d.MinerID+" "+d.Action.String())
	return nil
}

func (r *recordingOwner) wants(id string) policy.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.want[id]
}

func (r *recordingOwner) history() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// planPause publishes the boss's Plan pausing miner (a step's first message) without its order.
func (b *boss) planPause(miner string) {
	pl, err := encode(&Plan{Epoch: b.epoch(), Leader: "boss", Decisions: []Decided{{MinerID: miner, Action: Action(policy.ActionPause),
		FromKW: 3.5, Reason: Reason(policy.ReasonImportLimit)}}})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.nc.Publish("hashgate."+b.site+".plan."+miner[:1], pl); err != nil {
		b.t.Fatal(err)
	}
}

// publishMeter publishes a fresh site import reading of kw every 200 ms until the test ends.
func publishMeter(t *testing.T, url, site string, kw float64) {
	nc, _ := connect(t, url)
	every(t, 200*time.Millisecond, func(time.Time) {
		body, err := encode(&Readings{Instance: "m", Readings: []MeterReading{ReadingOf(policy.Reading{Role: policy.RoleSiteImport, Value: kw, At: time.Now()})}})
		if err == nil {
			_ = nc.Publish("hashgate."+site+".meter.m", body)
		}
	})
}

// orderAction sends action for miner at epoch and returns its reply later.
func (b *boss) orderAction(to, miner string, epoch uint64, action policy.Action) <-chan string {
	return b.request(to, &Order{Epoch: epoch, Leader: "boss", TimeoutMS: 10_000,
		Decision: Decided{MinerID: miner, Action: Action(action), Reason: Reason(policy.ReasonImportLimit)}})
}

// strandPause has a's miner a1 run by the boss's order, then publishes the boss's Plan
// pausing it without its order: a1's gate closes while a1 still runs.
func (b *boss) strandPause(n *Node, rec *recordingOwner) {
	b.t.Helper()
	if r := <-b.order("a", "a1", b.epoch()); r != "" {
		b.t.Fatalf("run order: %q", r)
	}
	waitFor(b.t, "a1 commanded run", func() bool { return n.commandedOf("a1") == policy.ActionRun })
	b.planPause("a1")
	waitFor(b.t, "the plan closing a1's gate", func() bool { return rec.wants("a1") == policy.ActionPause })
}

// strandedAtLowLoad is instance a following a boss on site, with a1's gate closed by the
// boss's plan to pause it and no order (see strandPause), under a fresh site meter far below
// the limit: a, leading next, has no reason to pause a1.
func strandedAtLowLoad(t *testing.T, site string, ttl, stale time.Duration) (*boss, *recordingOwner, *Node) {
	t.Helper()
	rec := newRecordingOwner()
	srv, b, n := bossFollower(t, site, ttl, stale, rec)
	publishMeter(t, srv.ClientURL(), site, 10)
	b.strandPause(n, rec)
	return b, rec, n
}

// A leader's Plan closes the gate of a miner it is about to pause, and the leader dies before
// the order: the next leader takes the miner as running (the owner's inventory says so) and
// never decides it again. The owner puts the gate back to the command it last carried out once
// the plan went stale_after without its order, so the miner does not stay awake without work.
func TestPlanWithoutItsOrderIsRolledBack(t *testing.T) {
	const ttl, stale = time.Second, 3 * time.Second
	b, rec, n := strandedAtLowLoad(t, "plan1", ttl, stale)
	b.silence()
	waitFor(t, "a1's gate back to run", func() bool { return rec.wants("a1") == policy.ActionRun })
	if got := n.commandedOf("a1"); got != policy.ActionRun {
		t.Fatalf("a1 commanded %v after the rollback, want run", got)
	}
	t.Logf("owner log %v", rec.history())
}

// A plan followed by its order is the leader's word: no rollback undoes it, however long it
// stands, even when stale_after has passed many times over.
func TestPlanFollowedByItsOrderStands(t *testing.T) {
	const ttl, stale = time.Second, 3 * time.Second
	rec := newRecordingOwner()
	_, b, n := bossFollower(t, "plan2", ttl, stale, rec)
	b.planPause("a1")
	waitFor(t, "the plan closing a1's gate", func() bool { return rec.wants("a1") == policy.ActionPause })
	if r := <-b.orderAction("a", "a1", b.epoch(), policy.ActionPause); r != "" {
		t.Fatalf("pause order: %q", r)
	}
	n.expirePlans(time.Now().Add(10 * stale))
	if got := rec.wants("a1"); got != policy.ActionPause {
		t.Fatalf("a1's gate wants %v after its pause was carried out, want pause; log %v", got, rec.history())
	}
	if got := n.commandedOf("a1"); got != policy.ActionPause {
		t.Fatalf("a1 commanded %v, want pause", got)
	}
}

// A newer epoch admitted rolls the older epoch's plans back at once (stale_after is far off):
// the new leader decides from the gates as the commands carried out left them.
func TestPlanRolledBackWhenANewerEpochIsAdmitted(t *testing.T) {
	const ttl, stale = time.Second, 50 * time.Second
	rec := newRecordingOwner()
	_, b, n := bossFollower(t, "plan3", ttl, stale, rec)
	b.strandPause(n, rec)
	old := b.epoch()
	b.lease.NewTerm()
	waitFor(t, "the boss's new term", func() bool { return b.epoch() > old })
	waitFor(t, "a1's gate back to run", func() bool { return rec.wants("a1") == policy.ActionRun })
	if e := n.Status().Epoch; e <= old {
		t.Fatalf("rolled back at epoch %d, before the newer epoch was admitted", e)
	}
}

// failingOwner carries every order out but pauses, which its firmware refuses.
type failingOwner struct{ *recordingOwner }

func (f failingOwner) Apply(ctx context.Context, d policy.Decision) error {
	if d.Action == policy.ActionPause {
		return errors.New("firmware: sleep not confirmed")
	}
	return f.recordingOwner.Apply(ctx, d)
}

// An order whose firmware call fails leaves the gate it planned closed while the miner still
// runs: if no later order settles it within stale_after, it is rolled back; before that it
// stands (the leader decides the failed miner again).
func TestFailedOrderGateRolledBackAfterStaleAfter(t *testing.T) {
	// A lease that cannot lapse here: a taking the lease would roll the gate back at once.
	const ttl, stale = 20 * time.Second, 50 * time.Second
	rec := newRecordingOwner()
	_, b, n := bossFollower(t, "plan4", ttl, stale, failingOwner{rec})
	if r := <-b.order("a", "a1", b.epoch()); r != "" {
		t.Fatalf("run order: %q", r)
	}
	if r := <-b.orderAction("a", "a1", b.epoch(), policy.ActionPause); r == "" {
		t.Fatal("the refused pause answered success")
	}
	if got := rec.wants("a1"); got != policy.ActionPause {
		t.Fatalf("a1's gate wants %v after the failed pause, want pause (the order plans it)", got)
	}
	n.expirePlans(time.Now().Add(stale / 2))
	if got := rec.wants("a1"); got != policy.ActionPause {
		t.Fatalf("a1's gate rolled back to %v before stale_after", got)
	}
	n.expirePlans(time.Now().Add(stale))
	if got := rec.wants("a1"); got != policy.ActionRun {
		t.Fatalf("a1's gate wants %v stale_after after the failed pause, want run; log %v", got, rec.history())
	}
}
