package main

import (
	"context"
	"testing"
	"time"
)

// TestBenchEndToEnd runs the whole bench briefly with a small fleet against the real proxy
// (in a child process, and in process) and checks that it measured something plausible. It
// asserts no speed: only that shares flowed and that the figures are consistent.
func TestBenchEndToEnd(t *testing.T) {
	for _, inproc := range []bool{false, true} {
		name := "child"
		if inproc {
			name = "inproc"
		}
		t.Run(name, func(t *testing.T) {
			cfg := defaultBenchConfig()
			cfg.Miners = 50
			cfg.Duration, cfg.Warmup = 2*time.Second, 300*time.Millisecond
			cfg.IdleBlocks, cfg.LoadBlocks = 2, 1
			cfg.ForwardRatio = 0.05
			cfg.InProc = inproc
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := run(ctx, cfg, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Connect.Ready != cfg.Miners {
				t.Fatalf("%d of %d miners ready", rep.Connect.Ready, cfg.Miners)
			}
			tp := rep.Throughput
			if tp.RepliesPerSec <= 0 || tp.AcceptedPerSec <= 0 || tp.PoolAcceptPerSec <= 0 {
				t.Fatalf("no shares flowed: %+v", tp)
			}
			if tp.ForwardedRatio <= 0 || tp.ForwardedRatio > 0.5 {
				t.Errorf("forwarded ratio %.4f for a configured 0.05", tp.ForwardedRatio)
			}
			sl := rep.ShareLatency
			if sl.Reply.Count == 0 || sl.Reply.P50Ms <= 0 || sl.Reply.P99Ms < sl.Reply.P50Ms || sl.Reply.MaxMs < sl.Reply.P99Ms {
				t.Errorf("reply latency %+v", sl.Reply)
			}
			if sl.Pool.Count == 0 || sl.Pool.P50Ms <= 0 || sl.Pool.P99Ms < sl.Pool.P50Ms {
				t.Errorf("pool-side latency %+v", sl.Pool)
			}
			if sl.PoolUnmatched != 0 {
				t.Errorf("%d upstream submits matched no share the fleet wrote", sl.PoolUnmatched)
			}
			for _, b := range []blockReport{rep.Jobs.Idle, rep.Jobs.Load} {
				if b.Missing != 0 || b.PerMiner.Count != uint64(b.Blocks*cfg.Miners) || b.PerMiner.P50Ms <= 0 {
					t.Errorf("block timing %+v", b)
				}
			}
			if rep.Fleet.RejectedTotal() > rep.Fleet.Rejected["21_stale"] {
				t.Errorf("shares rejected for reasons other than a new block: %v", rep.Fleet.Rejected)
			}
			if inproc {
				if rep.Memory != nil || tp.ProxyCPUPerShare != 0 {
					t.Error("in-process run reported proxy-only CPU or memory")
				}
				return
			}
			m := rep.Memory
			if m == nil || m.BaseRSSKiB == 0 || m.ConnectedGC <= m.BaseRSSKiB/2 || m.GoroutinesPer <= 0 {
				t.Fatalf("memory %+v", m)
			}
			if tp.ProxyCPUPerShare <= 0 || tp.ProxyCPUCores <= 0 {
				t.Errorf("proxy CPU %+v", tp)
			}
		})
	}
}
