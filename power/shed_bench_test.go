package power

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// BenchmarkShed10k measures the control path of a 10,000-miner shed through the real
// Controller and Runner, from the meter reading that puts the site over its limit:
//
//   - ms/gates: to every miner's policy hold set and proxy gate closed (Plan, before any
//     firmware call);
//   - ms/shed: to every miner's firmware command handed to its (real, LuxOS) driver, each
//     miner at its own loopback address; max_parallel is 10,000 so that issuing does not wait
//     for answers, which makes this mostly the kernel's cost of 10,000 TCP connects;
//   - ms/plan: Plan alone on the step's 10,000 pause decisions.
//
// Left out: the firmware's round trip, read-back and ramp (the listener accepts nothing; see
// the dispatcher and telemetry benchmarks); the audit trail (written off the control path);
// and open stratum sessions: the inventory is filled as the 1 Hz sync fills it, and the gate
// is closed by worker name in the proxy, which with a session also marks its channel paused.
func BenchmarkShed10k(b *testing.B) {
	const n = 10000
	raiseNoFile(b)
	// One listener on every loopback address that accepts nothing: every call hangs until
	// cancelled, and each miner has an address of its own, as on a site LAN.
	silent, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	defer silent.Close()
	g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "luxos", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1,
		Addresses: map[string]string{}}
	_, port, _ := net.SplitHostPort(silent.Addr().String())
	for k := range n {
		g.Addresses[fmt.Sprintf("w%05d", k)] = fmt.Sprintf("127.0.%d.%d:%s", k/250, k%250+1, port)
	}
	px, _ := startProxy(b, deadAddr(b), nil)
	var total, gates, plan time.Duration
	for range b.N {
		b.StopTimer()
		pc := policy.DefaultConfig()
		pc.ImportLimitKW, pc.MarginKW, pc.MaxParallel = 40000, 100, n
		pc.Interval = policy.Duration(5 * time.Second)
		c, err := New(context.Background(), DefaultConfig(), Options{Policy: &pc, Fleet: []policy.FleetGroup{g}, Proxy: px})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.mu.Lock()
		for k := range n {
			id := fmt.Sprintf("w%05d", k)
			m := c.minerLocked(id)
			m.connected, m.group, m.host, m.lastShare = true, &c.groups[0], "127.0.0.1", now
			m.view = c.groups[0].NewMiner(id, id)
			m.view.Proven = true
			m.view.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: now.Add(-time.Hour)}
			c.runner.UpsertMiner(m.view)
		}
		c.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.runner.Run(ctx); close(done) }()
		c.runner.Observe(policy.Reading{Role: policy.RoleAILoad, Value: 39990, At: now})
		for c.runner.Snapshot().Steps < 2 {
			runtime.Gosched()
		}
		runtime.GC()

		b.StartTimer()
		start := time.Now()
		c.runner.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 39990 + 35000, At: time.Now()})
		for c.Stats().Gated < n {
			runtime.Gosched()
		}
		gates += time.Since(start)
		for c.Stats().Commands < n {
			runtime.Gosched()
		}
		total += time.Since(start)
		b.StopTimer()

		if h := c.HoldCounts()["policy"]; h != n {
			b.Fatalf("%d policy holds, want %d", h, n)
		}
		cancel()
		<-done

		// Plan alone: the step's 10,000 pause decisions to 10,000 closed gates.
		for k := range n {
			id := fmt.Sprintf("w%05d", k)
			c.mu.Lock()
			c.setHoldsLocked(id, c.miners[id], 0, now)
			c.mu.Unlock()
		}
		ds := make([]policy.Decision, n)
		for k := range ds {
			ds[k] = policy.Decision{MinerID: fmt.Sprintf("w%05d", k), Action: policy.ActionPause, FromKW: 3.5, Reason: policy.ReasonImportLimit}
		}
		t0 := time.Now()
		c.Plan(ds)
		plan += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/shed")
	b.ReportMetric(float64(plan.Microseconds())/1000/float64(b.N), "ms/plan")
	b.ReportMetric(float64(gates.Microseconds())/1000/float64(b.N), "ms/gates")
}

// raiseNoFile lifts the soft limit on open files to the hard limit: 10,000 firmware calls in
// flight hold 10,000 sockets.
func raiseNoFile(tb testing.TB) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
}
