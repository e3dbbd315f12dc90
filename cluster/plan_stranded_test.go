package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// heldOwner records plans like recordingOwner and holds every firmware call until release is
// closed (or the order's time runs out).
type heldOwner struct {
	*recordingOwner
	release chan struct{}
	mu      sync.Mutex
	running int
}

func (h *heldOwner) Apply(ctx context.Context, d policy.Decision) error {
	h.mu.Lock()
	h.running++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.running--
		h.mu.Unlock()
	}()
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.recordingOwner.Apply(ctx, d)
}

func (h *heldOwner) inFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running
}

// A batch closes its miners' gates before its orders wait for a slot. An order whose time
// runs out in that wait never reaches the firmware, so nothing settles its gate: it is still
// rolled back after stale_after, like any plan left without its order.
func TestBatchOrderTimedOutForASlotGateRolledBack(t *testing.T) {
	// A lease that cannot lapse in the test's lifetime: only the slot wait may time out.
	const ttl, stale = 20 * time.Second, 50 * time.Second
	owner := &heldOwner{recordingOwner: newRecordingOwner(), release: make(chan struct{})}
	b, n := bossFleetFollower(t, "ps1", ttl, stale, maxOrders+1, owner, &logBuf{})
	var once sync.Once
	release := func() { once.Do(func() { close(owner.release) }) }
	defer release() // before the cleanups stop the node
	e := b.epoch()
	var busy []string
	for i := range maxOrders {
		busy = append(busy, fmt.Sprintf("a-%d", i))
	}
	first := b.batch("a", e, decisions(policy.ActionPause, busy...))
	waitFor(t, "every slot taken by a held order", func() bool { return owner.inFlight() == maxOrders })
	last := fmt.Sprintf("a-%d", maxOrders)
	body, err := encode(&Batch{Epoch: e, Leader: "boss", Owner: "a", TimeoutMS: 300, Decisions: decisions(policy.ActionPause, last)})
	if err != nil {
		t.Fatal(err)
	}
	r := <-b.raw("hashgate.ps1.batch.a", body)
	if r.Err != "" || len(r.Results) != 1 || !strings.Contains(r.Results[0].Err, context.DeadlineExceeded.Error()) {
		t.Fatalf("the batch waiting for a slot: %+v, want its order timed out", r)
	}
	if got := owner.wants(last); got != policy.ActionPause {
		t.Fatalf("%s's gate wants %v after its batch, want pause (the batch plans it)", last, got)
	}
	n.expirePlans(time.Now().Add(stale / 2))
	if got := owner.wants(last); got != policy.ActionPause {
		t.Fatalf("%s's gate rolled back to %v before stale_after", last, got)
	}
	n.expirePlans(time.Now().Add(stale))
	if got := owner.wants(last); got != policy.ActionRun {
		t.Fatalf("%s's gate wants %v stale_after after its order timed out, want run", last, got)
	}
	// The held orders still run: their gates stand.
	if got := owner.wants("a-0"); got != policy.ActionPause {
		t.Fatalf("a-0's gate wants %v while its order runs, want pause", got)
	}
	release()
	if r := <-first; r.Err != "" || len(r.Results) != maxOrders {
		t.Fatalf("the held batch: err %q, %d results", r.Err, len(r.Results))
	}
}

// An instance that takes the lease after its leader went silent rolls that leader's plans
// left without their orders back at once, as a follower admitting a newer epoch does, not
// stale_after later (ten minutes here, beyond any wait of this test).
func TestNewLeaderRollsBackOlderPlansAtOnce(t *testing.T) {
	const ttl, stale = time.Second, 10 * time.Minute
	b, rec, n := strandedAtLowLoad(t, "ps2", ttl, stale)
	old := b.epoch()
	b.silence()
	waitFor(t, "a leading", func() bool { return n.Status().Role == RoleLeader })
	if e := n.Status().Epoch; e <= old {
		t.Fatalf("a leads at epoch %d, not above the boss's %d", e, old)
	}
	waitFor(t, "a1's gate back to run", func() bool { return rec.wants("a1") == policy.ActionRun })
	if got := n.commandedOf("a1"); got != policy.ActionRun {
		t.Fatalf("a1 commanded %v after the rollback, want run", got)
	}
}
