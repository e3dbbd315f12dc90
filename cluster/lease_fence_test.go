package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hashgate/hashgate/internal/clock"
)

// Two processes under one instance name (a cloned machine keeps its hostname): the first's
// renewal answer is lost, its key expires at the server and the second takes it. The first
// must not recover its lost renewal by adopting the second's write.
func TestLeaseLostRenewalNotAdoptedFromSameName(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	const ttl = time.Second
	// The first process's clock stands still: by its own deadline it still holds the lease.
	clk := clock.NewManual(time.Now())
	first := heldLease(t, srv.ClientURL(), "a", ttl, clk)
	clone := openLease(t, srv.ClientURL(), "a", ttl, nil)
	lost, cancel := context.WithCancel(ctx)
	cancel()
	if err := first.Renew(lost); err == nil {
		t.Fatal("a renewal with a cancelled context succeeded")
	}
	waitFor(t, "the clone to take the expired key", func() bool {
		ok, err := clone.TryAcquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if err := first.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("the first process kept the lease through the clone's write: %v", err)
	}
	if _, held := first.Held(clk.Now()); held {
		t.Fatal("the first process still counts the lease held")
	}
	if _, held := clone.Held(time.Now()); !held {
		t.Fatal("the clone lost its lease")
	}
}

// A lease bucket deleted and created again restarts its revisions at 1; the epoch still grows.
func TestLeaseEpochGrowsAcrossBucketRecreation(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	a := openLease(t, srv.ClientURL(), "a", 30*time.Second, nil)
	var old uint64
	for range 5 {
		if ok, err := a.TryAcquire(ctx); err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		old, _ = a.Held(time.Now())
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, js := connect(t, srv.ClientURL())
	st, err := js.KeyValue(ctx, LeaseBucket("s1"))
	if err != nil {
		t.Fatal(err)
	}
	status, err := st.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	created := status.(*jetstream.KeyValueBucketStatus).StreamInfo().Created
	if err := js.DeleteKeyValue(ctx, LeaseBucket("s1")); err != nil {
		t.Fatal(err)
	}
	// Creation times count in seconds: the new bucket is created in a later second.
	waitFor(t, "a later second", func() bool { return time.Now().Unix() > created.Unix() })
	b := openLease(t, srv.ClientURL(), "b", 30*time.Second, nil)
	if ok, err := b.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("acquire in the new bucket: %v %v", ok, err)
	}
	e, _ := b.Held(time.Now())
	if e <= old {
		t.Fatalf("epoch %d in the recreated bucket is not above %d", e, old)
	}
	holder, cur, err := b.Current(ctx)
	if err != nil || holder != "b" || cur != e {
		t.Fatalf("current %q %d %v, want b %d", holder, cur, err, e)
	}
}
