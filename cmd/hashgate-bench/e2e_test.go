package main

import (
	"context"
	"testing"
	"time"
)

// TestBenchEndToEnd runs the whole bench briefly with a small fleet against the real proxy
// (in a child process, and in process), with V1 miners, V2 miners over Noise on extended and
// on standard channels, and a mixed fleet, and checks that it measured something plausible.
// It asserts no speed: only that shares flowed and that the figures are consistent.
func TestBenchEndToEnd(t *testing.T) {
	for _, c := range []struct {
		name     string
		inproc   bool
		protocol string
		standard bool
		miners   int
	}{
		{"child", false, protoSV1, false, 50},
		{"inproc", true, protoSV1, false, 50},
		{"child-sv2", false, protoSV2, false, 30},
		{"child-sv2-standard", false, protoSV2, true, 30},
		{"child-mixed", false, protoMixed, false, 30},
	} {
		inproc := c.inproc
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultBenchConfig()
			cfg.Miners, cfg.Protocol, cfg.V2Standard = c.miners, c.protocol, c.standard
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
			if rep.Fleet.RejectedTotal() > rep.Fleet.Rejected["21_stale"]+rep.Fleet.Rejected["sv2_stale-share"] {
				t.Errorf("shares rejected for reasons other than a new block: %v", rep.Fleet.Rejected)
			}
			if v2 := cfg.v2Miners(); v2 > 0 {
				cr := rep.Connect
				if cr.V2Miners != v2 || cr.Handshakes != uint64(v2) || cr.HandshakesPerSec <= 0 || cr.Handshake == nil || cr.Handshake.Count != uint64(v2) {
					t.Errorf("connect report %+v for %d SV2 miners", cr, v2)
				}
				if rep.Fleet.SuccessFrames == 0 || rep.Fleet.Unknown != 0 {
					t.Errorf("%d SubmitShares.Success frames, %d unknown replies", rep.Fleet.SuccessFrames, rep.Fleet.Unknown)
				}
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
			if b := rep.Jobs.Idle; b.ProxyCPUPerMinerUs <= 0 || b.BenchCPUPerMinerUs <= 0 {
				t.Errorf("no CPU per miner and idle block: %+v", b)
			}
		})
	}
}
