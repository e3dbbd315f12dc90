package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
)

func openLease(t *testing.T, url, holder string, ttl time.Duration, clk clock.Clock) *Lease {
	t.Helper()
	_, js := connect(t, url)
	l, err := OpenLease(context.Background(), js, "s1", holder, ttl, clk)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// heldLease is openLease with the lease taken by holder.
func heldLease(t *testing.T, url, holder string, ttl time.Duration, clk clock.Clock) *Lease {
	t.Helper()
	l := openLease(t, url, holder, ttl, clk)
	if ok, err := l.TryAcquire(context.Background()); err != nil || !ok {
		t.Fatalf("%s acquire: %v %v", holder, ok, err)
	}
	return l
}

// One holder at a time; the second takes over only once the first's own deadline has passed,
// and with a higher epoch.
func TestLeaseExclusiveAndFenced(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	const ttl = time.Second
	a := heldLease(t, srv.ClientURL(), "a", ttl, nil)
	b := openLease(t, srv.ClientURL(), "b", ttl, nil)
	ea, _ := a.Held(time.Now())
	if ok, err := b.TryAcquire(ctx); err != nil || ok {
		t.Fatalf("b acquired a held lease: %v %v", ok, err)
	}
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if e, ok := a.Held(time.Now()); !ok || e != ea {
		t.Fatalf("renewal changed the epoch or lost the lease: %d %v", e, ok)
	}
	// a stops renewing (a dead leader); b polls.
	waitFor(t, "b to take the expired lease", func() bool {
		ok, err := b.TryAcquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if _, held := a.Held(time.Now()); held {
				t.Fatal("b acquired while a still counted its lease valid")
			}
		}
		return ok
	})
	eb, _ := b.Held(time.Now())
	if eb <= ea {
		t.Fatalf("new epoch %d not above the old %d", eb, ea)
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("old holder renewed: %v", err)
	}
}

// Release hands over at once, and a new term raises the epoch without a new holder.
func TestLeaseReleaseAndNewTerm(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	a := openLease(t, srv.ClientURL(), "a", 30*time.Second, nil)
	b := openLease(t, srv.ClientURL(), "b", 30*time.Second, nil)
	if ok, _ := a.TryAcquire(ctx); !ok {
		t.Fatal("a did not acquire")
	}
	e1, _ := a.Held(time.Now())
	a.NewTerm()
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	e2, ok := a.Held(time.Now())
	if !ok || e2 <= e1 {
		t.Fatalf("new term epoch %d after %d (held %v)", e2, e1, ok)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("b after release: %v %v", ok, err)
	}
	if eb, _ := b.Held(time.Now()); eb <= e2 {
		t.Fatalf("epoch after release %d not above %d", eb, e2)
	}
}

// The holder's own deadline runs on its clock from before the write was sent: with no
// renewal it stops counting the lease at ttl minus the margin, whatever the server does.
func TestLeaseDeadlineOnInjectedClock(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	clk := clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	const ttl = time.Minute
	a := openLease(t, srv.ClientURL(), "a", ttl, clk)
	if ok, _ := a.TryAcquire(context.Background()); !ok {
		t.Fatal("not acquired")
	}
	clk.Advance(ttl - ttl/5 - time.Millisecond)
	if _, ok := a.Held(clk.Now()); !ok {
		t.Fatal("lost before its deadline")
	}
	clk.Advance(time.Millisecond)
	if _, ok := a.Held(clk.Now()); ok {
		t.Fatal("still held at ttl minus the margin")
	}
	if err := a.Renew(context.Background()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renewed after its deadline: %v", err)
	}
}
