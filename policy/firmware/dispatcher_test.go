package firmware_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// luxFleet starts n simulated LuxOS miners, each on its own loopback port.
func luxFleet(tb testing.TB, n int, clk *sim.ManualClock) ([]*sim.Miner, []firmware.Target) {
	tb.Helper()
	miners := make([]*sim.Miner, n)
	targets := make([]firmware.Target, n)
	for i := range n {
		miners[i] = newSimMiner(tb, clk)
		srv := sim.NewLuxOS(miners[i], clk, 0, zerolog.Nop())
		addr, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { srv.Close() })
		targets[i] = firmware.Target{ID: addr.String(), Addr: addr.String()}
	}
	return miners, targets
}

// countingDriver records how many commands run at once through a real
// driver.
type countingDriver struct {
	firmware.Driver
	cur, peak atomic.Int64
}

func (c *countingDriver) Sleep(ctx context.Context, t firmware.Target) error {
	n := c.cur.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer c.cur.Add(-1)
	return c.Driver.Sleep(ctx, t)
}

func TestDispatcherSleepsFleetWithinBound(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	miners, targets := luxFleet(t, 40, clk)
	drv := &countingDriver{Driver: newDriver(t, firmware.LuxOS, testConfig(stepClock{clk}))}
	var mu sync.Mutex
	audited := map[string]error{}
	cfg := firmware.DefaultDispatcherConfig()
	cfg.Concurrency = 8
	cfg.Clock = stepClock{clk}
	d, err := firmware.NewDispatcher(cfg, func(r firmware.Result) {
		mu.Lock()
		audited[r.Target.ID] = r.Err
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]firmware.Job, len(targets))
	for i, tg := range targets {
		jobs[i] = firmware.Job{Driver: drv, Target: tg, Command: firmware.Command{Kind: firmware.CmdSleep}}
	}
	res := d.Dispatch(context.Background(), jobs)
	if len(res) != len(jobs) || len(audited) != len(jobs) {
		t.Fatalf("%d results, %d audited, want %d", len(res), len(audited), len(jobs))
	}
	for i, r := range res {
		if r.Err != nil || r.Attempts != 1 || r.Target != targets[i] || r.Firmware != firmware.LuxOS {
			t.Fatalf("result %d: %+v", i, r)
		}
		if !miners[i].State().Sleeping {
			t.Fatalf("miner %d awake", i)
		}
	}
	if p := drv.peak.Load(); p > 8 || p < 1 {
		t.Fatalf("peak concurrency %d, bound 8", p)
	}
}

func TestDispatcherRetriesWithBackoff(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	miners, targets := luxFleet(t, 2, clk)
	miners[0].SetFaults(sim.FaultGarbage)    // retriable
	miners[1].SetFaults(sim.FaultRejectAuth) // not retriable
	drv := newDriver(t, firmware.LuxOS, testConfig(stepClock{clk}))
	cfg := firmware.DefaultDispatcherConfig()
	cfg.Attempts = 3
	cfg.BackoffBase, cfg.BackoffMax = time.Second, 10*time.Second
	cfg.Clock = stepClock{clk}
	d, err := firmware.NewDispatcher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := clk.Now()
	res := d.Dispatch(context.Background(), []firmware.Job{
		{Driver: drv, Target: targets[0], Command: firmware.Command{Kind: firmware.CmdStatus}},
	})
	if !errors.Is(res[0].Err, firmware.ErrProtocol) || res[0].Attempts != 3 {
		t.Fatalf("garbage miner: %+v", res[0])
	}
	if waited := clk.Now().Sub(before); waited != 3*time.Second {
		t.Fatalf("backoff waited %v, want 1s+2s", waited)
	}
	res = d.Dispatch(context.Background(), []firmware.Job{
		{Driver: drv, Target: targets[1], Command: firmware.Command{Kind: firmware.CmdSleep}},
	})
	if !errors.Is(res[0].Err, firmware.ErrAuth) || res[0].Attempts != 1 {
		t.Fatalf("auth-refusing miner: %+v", res[0])
	}
}

func TestDispatcherPerCommandTimeout(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	miners, targets := luxFleet(t, 2, clk)
	miners[0].SetFaults(sim.FaultStall)
	drv := newDriver(t, firmware.LuxOS, testConfig(stepClock{clk}))
	cfg := firmware.DefaultDispatcherConfig()
	// Long enough for the healthy miner on a loaded machine; the stalled one never answers
	// and so takes all of it.
	cfg.Timeout = 2 * time.Second
	cfg.Attempts = 1
	d, err := firmware.NewDispatcher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := d.Dispatch(context.Background(), []firmware.Job{
		{Driver: drv, Target: targets[0], Command: firmware.Command{Kind: firmware.CmdStatus}},
		{Driver: drv, Target: targets[1], Command: firmware.Command{Kind: firmware.CmdStatus}},
	})
	if !errors.Is(res[0].Err, firmware.ErrTimeout) {
		t.Fatalf("stalled miner: %v", res[0].Err)
	}
	if res[1].Err != nil || res[1].Status.State != firmware.StateRunning {
		t.Fatalf("healthy miner: %+v", res[1])
	}
}

func TestDispatcherConfigValidate(t *testing.T) {
	cfg := firmware.DefaultDispatcherConfig()
	cfg.Concurrency = 0
	if _, err := firmware.NewDispatcher(cfg, nil); err == nil {
		t.Fatal("zero concurrency accepted")
	}
}

// BenchmarkDispatchLuxOS sends sleep then wake to 1,000 simulated LuxOS
// miners over loopback TCP, each on its own port; every command is written,
// confirmed by read-back and audited. One op = 1,000 sleeps + 1,000 wakes.
func BenchmarkDispatchLuxOS(b *testing.B) {
	const n = 1000
	clk := sim.NewManualClock(epoch)
	_, targets := luxFleet(b, n, clk)
	cfg := firmware.DefaultConfig()
	cfg.Clock = stepClock{clk}
	drv := newDriver(b, firmware.LuxOS, cfg)
	dcfg := firmware.DefaultDispatcherConfig()
	var failed atomic.Int64
	d, err := firmware.NewDispatcher(dcfg, func(r firmware.Result) {
		if r.Err != nil {
			failed.Add(1)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	sleep := make([]firmware.Job, n)
	wake := make([]firmware.Job, n)
	for i, tg := range targets {
		sleep[i] = firmware.Job{Driver: drv, Target: tg, Command: firmware.Command{Kind: firmware.CmdSleep}}
		wake[i] = firmware.Job{Driver: drv, Target: tg, Command: firmware.Command{Kind: firmware.CmdWake}}
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		d.Dispatch(ctx, sleep)
		d.Dispatch(ctx, wake)
	}
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d commands failed", f)
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "commands/s")
}
