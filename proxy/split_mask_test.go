package proxy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/miner2"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/rs/zerolog"
)

// TestSplitVersionMaskNarrowerPoolLeftOut: two pools split 50/50, the second granting only
// part of BIP320's bits (0x00ffe000). While SV2 miners that roll every BIP320 bit are
// connected, the narrow pool is left out of the split with a log line naming its mask, and
// over a simulated half minute no SV2 share is rejected (on the narrow pool every one would
// be, as invalid version bits). Once the SV2 miners leave, the narrow pool joins the split
// again for the V1 miner, whose mask follows each pool's.
func TestSplitVersionMaskNarrowerPoolLeftOut(t *testing.T) {
	_, a1 := startSplitPool(t, 41)
	_, a2 := startPool(t, func(c *simpool.Config) { c.Seed, c.Difficulty, c.VersionMask = 42, splitDiff, 0x00ffe000 })
	k := newV2Keys(t)
	clk := clock.NewManual(time.Now())
	var logs lockedBuffer
	lg := zerolog.New(&logs)
	px, v1 := startProxy(t, splitTestConfig([]float64{50, 50}, []int{0, 0}, a1, a2), Options{Clock: clk, Logger: &lg})
	l, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var ms []*miner2.Miner
	for i, std := range []bool{true, false} {
		m := miner2.New(miner2.Config{Addr: l.String(), Authority: k.authority.PublicKey(), User: "sv2.r" + string(rune('0'+i)),
			HashRate: 12800, VersionRolling: true, Standard: std})
		ms = append(ms, m)
		wg.Add(1)
		go func() { defer wg.Done(); m.Run(ctx) }()
	}
	startMiners(t, v1, 1, "v1", func(c *miner.Config) { c.HashRate = 12800 })

	advanceUntil(t, clk, "every SV2 miner's shares accepted", func() bool { return allAccepted2(ms) })
	// Shares in flight for the narrow pool's jobs when it left are stale: count from once
	// each miner has had 20 more accepted after the split ended (answers come in order).
	advanceUntil(t, clk, "the split ended", func() bool { return len(memberPools(px)) == 0 })
	acc := make([]uint64, len(ms))
	for i, m := range ms {
		acc[i] = m.Stats.Accepted.Load()
	}
	waitFor(t, "20 more shares accepted from each SV2 miner", func() bool {
		for i, m := range ms {
			if m.Stats.Accepted.Load() < acc[i]+20 {
				return false
			}
		}
		return true
	})
	before := make([]uint64, len(ms))
	for i, m := range ms {
		before[i] = m.Stats.Rejected.Load()
	}
	for range 30 {
		clk.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	for i, m := range ms {
		if n := m.Stats.Rejected.Load() - before[i]; n != 0 {
			t.Fatalf("SV2 miner got %d rejects over the half minute: %v", n, m.Rejects())
		}
	}
	if n := len(memberPools(px)); n != 0 {
		t.Fatalf("split has %d members while SV2 miners are connected, want none", n)
	}
	if a := px.activePool(); a == nil || a.cfg.Name != "pool0" {
		t.Fatalf("active pool %v, want pool0 (the one whose mask covers the SV2 miners')", a)
	}
	if !strings.Contains(logs.String(), `"version_mask":"00ffe000"`) || !strings.Contains(logs.String(), "pool left out of the split: its version mask does not cover") {
		t.Fatalf("no log line names the narrow pool and its mask:\n%s", logs.String())
	}

	cancel()
	wg.Wait()
	advanceUntil(t, clk, "the narrow pool back in the split once the SV2 miners left", func() bool {
		return len(memberPools(px)) == 2 && strings.Contains(logs.String(), "pool may join the split again")
	})
}
