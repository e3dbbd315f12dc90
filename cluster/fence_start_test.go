package cluster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// TestClaimBeforeTheLeaseOpensIsProvenOnceItIs: an instance subscribes to the leader's
// subjects before its campaign has opened the lease bucket, so the first heartbeat or order
// of a running leader can arrive with no lease to read. That claim is refused, but it must
// not start the once-per-lease_ttl/6 read limit: the leader's next message, once the lease is
// open, is proven at once instead of being refused as unproven for the rest of the window
// (the starting follower used to refuse a whole first second of orders this way).
func TestClaimBeforeTheLeaseOpensIsProvenOnceItIs(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	const ttl = 2 * time.Second
	b := newBoss(t, srv.ClientURL(), "early", ttl)
	epoch := b.epoch()

	clk := clock.NewManual(time.Now())
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = "early", "a", srv.ClientURL()
	cfg.LeaseTTL = Duration(ttl)
	pcfg := policy.DefaultConfig()
	pcfg.ImportLimitKW = 1000
	n, err := New(cfg, Options{Policy: pcfg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := n.proven("boss", epoch); ok {
		t.Fatal("a claim was proven with no lease open")
	}
	_, js := connect(t, srv.ClientURL())
	l, err := OpenLease(context.Background(), js, "early", "a", ttl, clk)
	if err != nil {
		t.Fatal(err)
	}
	n.lease.Store(l)
	// Same instant on the node's clock: inside lease_ttl/6 of the refused claim.
	ok, read := n.proven("boss", epoch)
	if !ok || !read {
		t.Fatalf("the leader's claim right after the lease opened: proven %v, lease read %v", ok, read)
	}
}
