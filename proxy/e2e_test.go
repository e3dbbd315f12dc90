package proxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// These tests run the real proxy between the simulated pool and simulated miners over
// loopback TCP. They wait for conditions (with a generous deadline that only guards against a
// hang); nothing here asserts how fast anything is.

func testLogger(t *testing.T) *zerolog.Logger {
	l := zerolog.Nop()
	if os.Getenv("HASHGATE_TEST_LOG") != "" {
		l = zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return &l
}

func startPool(t *testing.T, mut func(*simpool.Config)) (*simpool.Pool, string) {
	t.Helper()
	cfg := simpool.DefaultConfig()
	cfg.Difficulty = 1e-5
	cfg.JobInterval = 0
	cfg.BlockInterval = 0
	if mut != nil {
		mut(&cfg)
	}
	p, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, addr
}

func testConfig(pools ...string) Config {
	cfg := DefaultConfig()
	for i, a := range pools {
		cfg.Pools = append(cfg.Pools, PoolConfig{Name: fmt.Sprintf("pool%d", i), URL: "stratum+tcp://" + a, User: "acct", Password: "x", Priority: i})
	}
	cfg.Difficulty = DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 600, RetargetEvery: Duration(time.Minute)}
	cfg.BackoffMin = Duration(50 * time.Millisecond)
	cfg.BackoffMax = Duration(200 * time.Millisecond)
	return cfg
}

func startProxy(t *testing.T, cfg Config, opts Options) (*Proxy, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	addr, err := p.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, addr.String()
}

func startMiners(t *testing.T, addr string, n int, prefix string, mut func(*miner.Config)) []*miner.Miner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var ms []*miner.Miner
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		c := miner.Config{Addr: addr, Username: fmt.Sprintf("%s.m%02d", prefix, i), HashRate: 100000, VersionRolling: i%2 == 0}
		if mut != nil {
			mut(&c)
		}
		m := miner.New(c)
		ms = append(ms, m)
		go func() { m.Run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range ms {
			<-done
		}
	})
	return ms
}

// eventually polls cond until it holds; the deadline only stops a hung test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProxyAggregatesMinersOnOneConnection(t *testing.T) {
	sp, paddr := startPool(t, nil)
	px, addr := startProxy(t, testConfig(paddr), Options{})
	ms := startMiners(t, addr, 6, "rack1", nil)

	eventually(t, "every miner to get a pool-accepted share", func() bool {
		for i := range ms {
			if sp.AcceptedBy(fmt.Sprintf("acct.rack1.m%02d", i)) == 0 {
				return false
			}
		}
		return true
	})
	if n := sp.Connections(); n != 1 {
		t.Fatalf("pool sees %d connections, want 1 for 6 miners", n)
	}
	// Every miner got its own extranonce1 (its prefix) and its shares were judged truthfully.
	seen := map[string]bool{}
	for _, m := range ms {
		e := fmt.Sprintf("%x", m.Extranonce1())
		if seen[e] {
			t.Fatalf("extranonce1 %s handed to two miners", e)
		}
		seen[e] = true
		if m.Stats.Accepted.Load() == 0 {
			t.Fatalf("miner saw no accepted share")
		}
		if r := m.Rejects(); len(r) != 0 {
			t.Fatalf("honest miner got rejects: %v", r)
		}
	}
	ws := px.Workers()
	if len(ws) != 6 {
		t.Fatalf("%d workers visible, want 6", len(ws))
	}
	for _, w := range ws {
		if !strings.HasPrefix(w.Worker, "rack1.m") || w.State != "running" || w.Shares["accepted"] == 0 {
			t.Fatalf("worker row %+v", w)
		}
	}
	st := px.Status()
	if st.Shares["pool_accepted"] == 0 || st.Shares["pool_rejected"] != 0 || st.ActivePool != "pool0" {
		t.Fatalf("status %+v", st)
	}
	// The pool accepted exactly what the proxy forwarded and it said it accepted. The miners
	// keep mining, so the two counts agree only at a moment with no share at the pool whose
	// verdict is still on its way back; a verdict lost or counted twice never agrees again.
	eventually(t, "the pool's accepted count and the proxy's to agree, verdicts settled", func() bool {
		st := px.Status()
		return sp.Accepted() == st.Shares["pool_accepted"] && st.Shares["forwarded"] == st.Shares["pool_accepted"]+st.Shares["pool_rejected"]+st.Shares["pool_unknown"]
	})
}

func TestProxyOpensAnotherUpstreamWhenSpaceRunsOut(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Extranonce.PrefixBytes = 1
	cfg.Extranonce.MaxMinersPerUpstream = 3
	_, addr := startProxy(t, cfg, Options{})
	ms := startMiners(t, addr, 7, "rack2", nil)
	eventually(t, "all miners accepted", func() bool {
		for _, m := range ms {
			if m.Stats.Accepted.Load() == 0 {
				return false
			}
		}
		return true
	})
	// 7 miners, 3 per upstream: three upstream connections.
	eventually(t, "three upstream connections at the pool", func() bool { return sp.Connections() == 3 })
}

func TestProxyFailoverKeepsMiners(t *testing.T) {
	primary, a1 := startPool(t, func(c *simpool.Config) { c.Seed = 1 })
	backup, a2 := startPool(t, func(c *simpool.Config) { c.Seed = 2; c.Extranonce2Size = 8 })
	cfg := testConfig(a1, a2)
	cfg.RejectWindow = 10
	cfg.RejectFailover = 0.8
	px, addr := startProxy(t, cfg, Options{})
	ms := startMiners(t, addr, 3, "rack3", nil)
	eventually(t, "mining on primary", func() bool { return primary.Accepted() > 5 })
	en1 := map[*miner.Miner]string{}
	for _, m := range ms {
		en1[m] = fmt.Sprintf("%x", m.Extranonce1())
	}
	// Sustained rejects on the primary move the fleet to the backup.
	primary.SetMode(simpool.RejectAll)
	eventually(t, "failover to backup", func() bool { return backup.Accepted() > 5 })
	if px.Status().ActivePool != "pool1" {
		t.Fatalf("active pool %q", px.Status().ActivePool)
	}
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("miner reconnected %d times; failover must keep its connection", m.Stats.Connects.Load())
		}
		if got := fmt.Sprintf("%x", m.Extranonce1()); got != en1[m] {
			t.Fatalf("extranonce1 changed across failover: %s -> %s", en1[m], got)
		}
	}
	// Rejections from the pool were told to the miners (code 23 from the pool).
	var told uint64
	for _, m := range ms {
		told += m.Rejects()[23]
	}
	if told == 0 {
		t.Fatal("pool rejections never reached the miners")
	}
}

func TestProxyFailsOverOnDisconnectAndFailsBack(t *testing.T) {
	primary, a1 := startPool(t, func(c *simpool.Config) { c.Seed = 3 })
	backup, a2 := startPool(t, func(c *simpool.Config) { c.Seed = 4 })
	// The primary's address is held by a listener we can close and reopen.
	px, addr := startProxy(t, testConfig(a1, a2), Options{})
	startMiners(t, addr, 2, "rack4", nil)
	eventually(t, "mining on primary", func() bool { return primary.Accepted() > 3 })
	primary.Close()
	eventually(t, "failover to backup", func() bool { return backup.Accepted() > 3 && px.Status().ActivePool == "pool1" })
	// Bring a pool back on the primary's address: after it proves healthy, miners move back.
	np, err := simpool.New(func() simpool.Config {
		c := simpool.DefaultConfig()
		c.Difficulty = 1e-5
		c.JobInterval = 0
		c.BlockInterval = 0
		c.Seed = 5
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", a1)
	if err != nil {
		t.Skipf("primary's port was taken meanwhile: %v", err)
	}
	np.Serve(l)
	t.Cleanup(np.Close)
	eventually(t, "fail back to primary", func() bool { return np.Accepted() > 3 && px.Status().ActivePool == "pool0" })
}

func TestPoolUserOnlyWorkerNames(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.WorkerNames = "pool_user_only"
	_, addr := startProxy(t, cfg, Options{})
	ms := startMiners(t, addr, 2, "rack6", nil)
	eventually(t, "shares under the pool user", func() bool { return sp.AcceptedBy("acct") > 2 })
	for i := range ms {
		if n := sp.AcceptedBy(fmt.Sprintf("acct.rack6.m%02d", i)); n != 0 {
			t.Fatalf("worker name passed through under pool_user_only: %d shares", n)
		}
	}
}

// TestFailoverWhenPoolStopsSendingJobs: a pool that is connected but silent (no new job for
// job_timeout) is failed over, as firmware watchdogs would otherwise trip.
func TestFailoverWhenPoolStopsSendingJobs(t *testing.T) {
	_, a1 := startPool(t, func(c *simpool.Config) { c.Seed = 7 }) // one job, then silence
	backup, a2 := startPool(t, func(c *simpool.Config) { c.Seed = 8; c.JobInterval = 300 * time.Millisecond })
	cfg := testConfig(a1, a2)
	cfg.JobTimeout = Duration(2 * time.Second)
	px, addr := startProxy(t, cfg, Options{})
	ms := startMiners(t, addr, 2, "rack7", nil)
	eventually(t, "failover to the pool that still sends work", func() bool {
		return px.Status().ActivePool == "pool1" && backup.Accepted() > 2
	})
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatal("a miner was disconnected by the failover")
		}
	}
	for _, ps := range px.Pools() {
		if ps.Name == "pool0" && (ps.State != "down" || ps.Reason != "no job within job_timeout") {
			t.Fatalf("silent pool row %+v", ps)
		}
	}
}
