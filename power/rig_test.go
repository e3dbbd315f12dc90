package power

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
	simminer "github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/store"
)

// The tests below run the real thing on loopback: a simulated pool, the proxy with a V1
// listener, simulated miners speaking Stratum, simulated firmware endpoints, a SQLite store in
// the test's directory and the Controller with its Runner. Policy time (dwell times, restore
// pacing, telemetry rounds) is a clock.Manual the test advances; what happens on sockets is
// awaited with waitFor, which asserts nothing about speed.

var epoch = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// waitFor polls cond until it holds; it fails the test only when the condition is still false
// after a bound far beyond anything the machine needs.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startPool runs a simulated V1 pool at an easy difficulty.
func startPool(t testing.TB) string {
	t.Helper()
	pc := pool.DefaultConfig()
	pc.Difficulty, pc.JobInterval, pc.BlockInterval = 1e-5, 0, 0
	sp, err := pool.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	addr, err := sp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startProxy runs the proxy against poolAddr with a V1 listener on loopback, on the test's
// clock (a share's time is then comparable with the Controller's proven window).
func startProxy(t testing.TB, poolAddr string, clk clock.Clock) (*proxy.Proxy, string) {
	t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Pools = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://" + poolAddr, User: "acct"}}
	cfg.Difficulty = proxy.DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 60, RetargetEvery: proxy.Duration(time.Minute)}
	px, err := proxy.New(cfg, proxy.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	px.Start(ctx)
	t.Cleanup(func() {
		cancel()
		px.Close()
	})
	addr, err := px.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return px, addr.String()
}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	sc := store.DefaultConfig()
	sc.Path = path
	sc.PruneInterval = 0
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testPolicy is a policy with room for everything at a 100 kW site import, meters that stay
// fresh for an hour of manual time and restores one step per 30 s.
func testPolicy() policy.Config {
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW = 1000, 10
	pc.StaleAfter = policy.Duration(time.Hour)
	pc.ApplyTimeout = policy.Duration(time.Minute)
	return pc
}

// rig is one run of the Controller over a proxy and a store.
type rig struct {
	t      testing.TB
	clk    *clock.Manual
	px     *proxy.Proxy
	addr   string
	st     *store.Store
	c      *Controller
	cancel context.CancelFunc
	done   chan struct{}
	// stratumMiners are the simulated miners by worker name, hangup their disconnects.
	stratumMiners map[string]*simminer.Miner
	hangup        map[string]func()
}

type rigOptions struct {
	cfg    Config
	policy *policy.Config
	fleet  []policy.FleetGroup
	store  *store.Store
	clk    *clock.Manual
}

func newRig(t testing.TB, poolAddr string, o rigOptions) *rig {
	t.Helper()
	if o.clk == nil {
		o.clk = clock.NewManual(epoch)
	}
	if o.cfg == (Config{}) {
		o.cfg = DefaultConfig()
	}
	if o.store == nil {
		o.store = openStore(t, filepath.Join(t.TempDir(), "hashgate.db"))
	}
	px, addr := startProxy(t, poolAddr, o.clk)
	c, err := New(context.Background(), o.cfg, Options{Policy: o.policy, Fleet: o.fleet, Proxy: px, Store: o.store, Clock: o.clk})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: o.clk, px: px, addr: addr, st: o.store, c: c, stratumMiners: map[string]*simminer.Miner{}, hangup: map[string]func(){}}
	return r
}

// run starts the Controller; stop (also at cleanup) stops it and waits.
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := r.c.Run(ctx); err != nil {
			r.t.Error(err)
		}
	}()
	r.t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// observe gives the Runner a site import reading taken now.
func (r *rig) observe(kw float64) {
	r.c.runner.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: kw, At: r.clk.Now()})
}

// advance moves manual time and syncs the inventory (the 1 Hz sync runs on the same clock).
func (r *rig) advance(d time.Duration) {
	r.clk.Advance(d)
	r.c.syncOnce()
}

// miner returns the Runner's view of one miner.
func (r *rig) miner(id string) (policy.MinerStatus, bool) {
	for _, m := range r.c.runner.Snapshot().Miners {
		if m.ID == id {
			return m, true
		}
	}
	return policy.MinerStatus{}, false
}

// gateClosed reports whether the proxy holds worker's gate closed, as the proxy reports it.
func (r *rig) gateClosed(worker string) bool {
	for _, w := range r.px.Workers() {
		if w.Worker == worker {
			return w.State == "paused"
		}
	}
	r.t.Fatalf("worker %s is not connected", worker)
	return false
}

// silent opens a V1 session that subscribes and authorizes as worker and then only reads:
// it never submits a share (a session that is not, or not yet, a working miner).
func (r *rig) silent(worker string) {
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	hello := `{"id":1,"method":"mining.subscribe","params":["silent/1.0"]}` + "\n" +
		`{"id":2,"method":"mining.authorize","params":["` + worker + `","x"]}` + "\n"
	if _, err := io.WriteString(c, hello); err != nil {
		r.t.Fatal(err)
	}
	go io.Copy(io.Discard, c)
}

// stratum runs a simulated miner against the rig's proxy for the test's lifetime.
func (r *rig) stratum(worker string) *simminer.Miner {
	m := simminer.New(simminer.Config{Addr: r.addr, Username: worker, HashRate: 50000})
	r.stratumMiners[worker] = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	r.hangup[worker] = stop
	r.t.Cleanup(stop)
	return m
}

// bitaxe runs a simulated ESP-Miner REST endpoint and returns its address and its miner.
func bitaxe(t testing.TB) (string, *simfw.Miner) {
	t.Helper()
	m, err := simfw.NewMiner(simfw.DefaultMinerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := simfw.NewBitaxe(m, zerolog.Nop())
	a, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a.String(), m
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}
