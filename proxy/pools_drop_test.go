package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestPoolsDropUnderLoadReconnectsAtOnce: a pool drops the proxy's connection in the middle of
// heavy forwarding, after the session had been mining for a minute. The proxy's clock is
// stopped, so a reconnect that waited for any backoff (backoff_min is 30 s here) would never
// happen: it reconnects at once, and mining goes on. Every share that met the pool's target
// and never got to the pool is counted unforwarded (the one the pool dropped the connection
// on, those in flight with it, those that found no connection), the pool accepted exactly
// what the proxy says it accepted, and the episode is logged once.
func TestPoolsDropUnderLoadReconnectsAtOnce(t *testing.T) {
	sp, paddr := startPool(t, nil)
	logs, log := logSink()
	cfg := testConfig(paddr)
	cfg.BackoffMin, cfg.BackoffMax = Duration(30*time.Second), Duration(time.Minute)
	cfg.SubmitRate = 1e6 // the submit limiter refills on the proxy's clock, which stands still here
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, cfg, Options{Logger: log, Clock: clk})
	ms := startMiners(t, addr, 4, "rackD", func(c *miner.Config) { c.HashRate = 300000 })
	eventually(t, "heavy forwarding", func() bool { return sp.Accepted() > 40 })
	clk.Advance(time.Minute) // the session has been up a minute: a drop now is a drop

	before := sp.Sessions()
	sp.DropAtNextSubmit()
	eventually(t, "the proxy back on the pool without waiting", func() bool {
		return sp.Sessions() == before+1 && sp.Connections() == 1 && px.Pools()[0].Unforwarded > 0
	})
	acc := sp.Accepted()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("accepted %d (was %d), pool %+v\nworkers %+v\n%s", sp.Accepted(), acc, px.Pools()[0], px.Workers(), logs.b.String())
		}
	})
	eventually(t, "mining on the new connection", func() bool { return sp.Accepted() > acc+20 })
	if n := logs.count(`"retry_in_ms":0`); n != 1 {
		t.Fatalf("%d immediate reconnects logged, want 1", n)
	}

	for _, m := range ms {
		m.SetHashRate(0) // asleep: let every verdict settle
	}
	eventually(t, "every forwarded share settled", func() bool {
		r := px.Pools()[0]
		return r.Shares["forwarded"] == r.Shares["pool_accepted"]+r.Shares["pool_rejected"]+r.Shares["pool_unknown"]
	})
	row := px.Pools()[0]
	// Shares without a connection are not_forwarded; those lost with the connection end as
	// pool_unknown. None timed out, so every pool_unknown is a lost one.
	if row.Unknown != 0 || row.Unforwarded != row.Shares["not_forwarded"]+row.Shares["pool_unknown"] {
		t.Fatalf("unforwarded %d, unknown %d, ledger %v", row.Unforwarded, row.Unknown, row.Shares)
	}
	if got, want := sp.Accepted(), row.Shares["pool_accepted"]; got != want {
		t.Fatalf("pool accepted %d, proxy recorded %d", got, want)
	}
	if n := logs.count("could not be forwarded"); n != 1 {
		t.Fatalf("unforwarded episode logged %d times", n)
	}
	if n := logs.count("pool answers shares again"); n != 1 {
		t.Fatalf("end of the episode logged %d times", n)
	}
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatal("a miner lost its connection to the proxy")
		}
	}
}

// TestPoolsReconnectBackoff: a session that had carried work for healthySession is made
// again at once; sessions that fail sooner wait a jittered backoff that doubles up to
// backoff_max, and a healthy session resets it. Driven on a manual clock: a pending wait
// is a timer on it, so "not yet" is exact.
func TestPoolsReconnectBackoff(t *testing.T) {
	clk := clock.NewManual(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	cfg := DefaultConfig()
	cfg.BackoffMin, cfg.BackoffMax = Duration(time.Second), Duration(4*time.Second)
	p := &Proxy{cfg: cfg, clk: clk, ctx: ctx}
	logs, log := logSink()

	type outcome struct{ upFor time.Duration }
	started, results := make(chan struct{}), make(chan outcome)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reconnectLoop(p.ctx, p, *log, func() (time.Duration, error) {
			started <- struct{}{}
			r := <-results
			return r.upFor, errors.New("pool closed the connection")
		})
	}()
	waitStart := func(what string) {
		t.Helper()
		select {
		case <-started:
		case <-time.After(60 * time.Second):
			t.Fatalf("no session: %s", what)
		}
	}
	// fail ends a session that never carried work and checks the wait is in [b/2, b].
	fail := func(b time.Duration) {
		t.Helper()
		results <- outcome{0}
		eventually(t, "the backoff timer", func() bool { return clk.Pending() == 1 })
		clk.Advance(b/2 - time.Millisecond)
		if clk.Pending() != 1 {
			t.Fatalf("reconnected before half the backoff %v", b)
		}
		clk.Advance(b/2 + time.Millisecond)
		waitStart("after the backoff")
	}
	waitStart("first")
	fail(time.Second)
	fail(2 * time.Second)
	fail(4 * time.Second)
	fail(4 * time.Second) // capped at backoff_max
	results <- outcome{healthySession}
	waitStart("at once after a healthy session") // no clock advance
	if clk.Pending() != 0 {
		t.Fatal("a timer was set for an immediate reconnect")
	}
	fail(time.Second) // backoff reset
	cancel()
	results <- outcome{0}
	<-done
	if logs.count(`"retry_in_ms":0,`) != 1 || logs.count(`"up_for_ms":10000`) != 1 {
		t.Fatalf("log lines:\n%s", logs.b.String())
	}
}
