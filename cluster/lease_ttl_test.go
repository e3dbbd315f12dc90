package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
)

// An instance configured with another lease_ttl than the bucket's must not rewrite the
// bucket's TTL: the holder's deadline counts on its own TTL, and a shorter one at the server
// would let a second leader take the key while the first still commands. It is refused,
// naming cluster.lease_ttl and both values, and the holder keeps its lease alone.
func TestLeaseTTLMismatchRefused(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	heldLease(t, srv.ClientURL(), "a", 10*time.Second, nil)
	_, js := connect(t, srv.ClientURL())
	_, err := OpenLease(ctx, js, "s1", "b", time.Second, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "lease_ttl" {
		t.Fatalf("opening with another lease_ttl: %v, want a ConfigError naming lease_ttl", err)
	}
	t.Logf("refused: %v", err)
	for _, want := range []string{"cluster.lease_ttl", "1s", "10s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	kv, err := js.KeyValue(ctx, LeaseBucket("s1"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 10*time.Second {
		t.Fatalf("the bucket's TTL is %s after the refused open, want 10s", st.TTL())
	}
	// The same TTL joins, and cannot take the held key.
	c, err := OpenLease(ctx, js, "s1", "c", 10*time.Second, nil)
	if err != nil {
		t.Fatalf("opening with the bucket's lease_ttl: %v", err)
	}
	if ok, err := c.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("a second instance took a held lease: %v %v", ok, err)
	}
}

// An instance whose lease_ttl differs from its site's says so in its log naming the key,
// never takes the lease (even free), proves no leader and so holds its own miners at its
// floor: isolated.
func TestNodeWithAnotherLeaseTTLIsolates(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	_, js := connect(t, srv.ClientURL())
	ctx := context.Background()
	if _, err := OpenLease(ctx, js, "ttl", "first", 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = "ttl", "a", srv.ClientURL()
	cfg.LeaseTTL, cfg.StaleAfter = Duration(time.Second), Duration(2*time.Second)
	pcfg := policy.DefaultConfig()
	pcfg.ImportLimitKW = 1000
	var logs logBuf
	n, err := New(cfg, Options{Policy: pcfg, Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	n.UpsertMiner(policy.Miner{ID: "a1", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(rctx, newRecordingOwner()) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "a isolated", func() bool { return n.Status().Role == RoleIsolated })
	logs.mu.Lock()
	text := logs.b.String()
	logs.mu.Unlock()
	if !strings.Contains(text, "lease bucket refused") || !strings.Contains(text, "cluster.lease_ttl: 1s") {
		t.Fatalf("no log line naming cluster.lease_ttl:\n%s", text)
	}
	kv, err := js.KeyValue(ctx, LeaseBucket("ttl"))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, leaseKey); err == nil {
		t.Fatalf("the lease is held (%q) by an instance with another lease_ttl", e.Value())
	}
}
