package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestFleetsOverAddressesAndStorm: a run past -miners-per-address is split into fleets, each
// dialing its own proxy listener on its own loopback address; every miner connects, every
// block reaches every miner of every fleet, and after the load window the reconnect storm
// brings every miner back.
func TestFleetsOverAddressesAndStorm(t *testing.T) {
	cfg := defaultBenchConfig()
	cfg.Miners, cfg.MinersPerAddress = 30, 12
	cfg.Duration, cfg.Warmup = time.Second, 200*time.Millisecond
	cfg.IdleBlocks, cfg.LoadBlocks = 2, 1
	cfg.ForwardRatio = 0.05
	cfg.Storm = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run(ctx, cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Env.Fleets != 3 || rep.Connect.Ready != 30 {
		t.Fatalf("%d fleets, %d ready; want 3 fleets, 30 ready", rep.Env.Fleets, rep.Connect.Ready)
	}
	for _, b := range []blockReport{rep.Jobs.Idle, rep.Jobs.Load} {
		if b.Missing != 0 || b.PerMiner.Count != uint64(b.Blocks*cfg.Miners) {
			t.Errorf("block timing %+v", b)
		}
	}
	if rep.Throughput.RepliesPerSec <= 0 || rep.Fleet.Miners != 30 {
		t.Fatalf("shares %+v, fleet %+v", rep.Throughput, rep.Fleet)
	}
	if s := rep.Storm; s == nil || s.Ready != 30 || s.Miners != 30 || s.Seconds <= 0 || s.Error != "" {
		t.Fatalf("storm %+v", rep.Storm)
	}
}

func TestMinersPerAddressLimits(t *testing.T) {
	cfg := defaultBenchConfig()
	cfg.Miners, cfg.MinersPerAddress, cfg.Protocol = 30, 12, protoSV2
	if cfg.validate() == nil {
		t.Error("SV2 fleets split over addresses accepted")
	}
	cfg.Protocol, cfg.Proxy = protoSV1, "127.0.0.1:1"
	if cfg.validate() == nil {
		t.Error("an external proxy (one address) accepted for several fleets")
	}
	cfg.Proxy, cfg.MinersPerAddress = "", 30000
	if cfg.validate() == nil {
		t.Error("more miners per address than ephemeral ports accepted")
	}
	cfg.MinersPerAddress = 12
	if err := cfg.validate(); err != nil || cfg.fleetCount() != 3 {
		t.Fatalf("30 miners at 12 per address: %v, %d fleets", err, cfg.fleetCount())
	}
}

// TestWorkerNamesReachTheProxy: -worker-names survives the trip to the child (JSON on its
// stdin) into the proxy's configuration, which accepts it; other values are refused.
func TestWorkerNamesReachTheProxy(t *testing.T) {
	for _, names := range []string{"passthrough", "pool_user_only"} {
		line, err := json.Marshal(childConfig{PoolAddr: "127.0.0.1:1", MinerDifficulty: 1, SubmitRate: 10, WorkerNames: names})
		if err != nil {
			t.Fatal(err)
		}
		var cc childConfig
		if err := json.Unmarshal(line, &cc); err != nil {
			t.Fatal(err)
		}
		pc := proxyConfig(cc)
		if pc.WorkerNames != names {
			t.Fatalf("proxy worker_names %q, want %q", pc.WorkerNames, names)
		}
		if err := pc.Validate(); err != nil {
			t.Fatalf("%s: %v", names, err)
		}
	}
	cfg := defaultBenchConfig()
	if cfg.WorkerNames != "pool_user_only" {
		t.Fatalf("default %q", cfg.WorkerNames)
	}
	cfg.WorkerNames = "each"
	if cfg.validate() == nil {
		t.Fatal("-worker-names each accepted")
	}
}
