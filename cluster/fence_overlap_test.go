package cluster

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// The first message of a newer epoch stops the older orders and waits for them; a second
// message of that epoch, arriving meanwhile on another subscription, waits too: the newer
// leader's pause never runs beside the older leader's run on the same miner.
func TestEveryMessageOfANewerEpochWaitsForOlderOrders(t *testing.T) {
	const ttl, stale = time.Second, 50 * time.Second
	owner := newSlowOwner(t, false) // firmware that finishes its run whatever the context says
	_, b, n := bossFollower(t, "overlap", ttl, stale, owner)
	old := b.epoch()
	b.order("a", "a1", old)
	<-owner.started
	b.lease.NewTerm()
	waitFor(t, "the boss's new term", func() bool { return b.epoch() > old })
	neu := b.epoch()
	// The heartbeat admitted the new epoch and waits for the old run to return.
	waitFor(t, "a admitting the new epoch", func() bool { return n.Status().Epoch == neu })
	pause := b.orderAction("a", "a1", neu, policy.ActionPause)
	select {
	case r := <-pause:
		t.Fatalf("the newer epoch's pause answered %q while the older run still ran", r)
	case <-time.After(300 * time.Millisecond):
		// Still waiting (a wait, not a timing claim: a late pause is checked below anyway).
	}
	owner.finish()
	if r := <-pause; r != "" {
		t.Fatalf("the newer epoch's pause answered %q once the older run returned", r)
	}
	owner.mu.Lock()
	overlap, after := owner.maxOverlap, owner.after
	owner.mu.Unlock()
	if overlap > 1 {
		t.Fatalf("the newer epoch's order was carried out while the older one still ran (overlap %d)", overlap)
	}
	if len(after) != 1 || after[0] != policy.ActionPause {
		t.Fatalf("applied after the run: %v, want the one pause", after)
	}
}
