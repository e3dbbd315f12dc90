package cluster

import (
	"context"
	"testing"
	"time"
)

// A heartbeat naming the real leader with an epoch above its term but not above the lease
// key's revision (which every renewal raises) proves nothing: the follower refuses it and
// keeps obeying the real leader's orders at its own epoch.
func TestForgedEpochNamingTheRealLeaderIsRefused(t *testing.T) {
	const ttl, stale = time.Second, 30 * time.Second // no isolation while the test runs
	srv, b, n := bossFollower(t, "forge", ttl, stale, newRecordingOwner())
	epoch := b.epoch()
	waitFor(t, "a following the boss's epoch", func() bool { return n.Status().Epoch == epoch })
	_, js := connect(t, srv.ClientURL())
	kv, err := js.KeyValue(context.Background(), LeaseBucket("forge"))
	if err != nil {
		t.Fatal(err)
	}
	// Renewals raise the key's revision above the term's: the forgery sits in between.
	waitFor(t, "two renewals of the boss's lease", func() bool {
		e, err := kv.Get(context.Background(), leaseKey)
		return err == nil && epochOf(epoch&^0xffffffff, e.Revision()) >= epoch+2
	})
	nc, _ := connect(t, srv.ClientURL())
	refused := n.Status().Refused
	hb, _ := encode(&Heartbeat{Epoch: epoch + 1, Leader: "boss"})
	if err := nc.Publish("hashgate.forge.leader", hb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged heartbeat handled", func() bool {
		st := n.Status()
		return st.Refused > refused || st.Epoch != epoch
	})
	if st := n.Status(); st.Epoch != epoch {
		t.Fatalf("the forged heartbeat raised the followed epoch to %d (the boss's is %d)", st.Epoch, epoch)
	}
	if r := <-b.order("a", "a1", epoch); r != "" {
		t.Fatalf("the real leader's order at its own epoch answered %q after a forged heartbeat naming it", r)
	}
}
