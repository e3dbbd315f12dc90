package app

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/work"
)

// TestExpectedRevenueEndToEnd: miners mine through the real proxy to the simulated pool, whose
// jobs pay 3.125 BTC (the sim template's coinbase) on a chain at mainnet block 100000's
// nbits; the energy report's expected sats for the day are then exactly the pool-accepted
// difficulty × 312,500,000 / 14484.1623612254, read back from the store.
func TestExpectedRevenueEndToEnd(t *testing.T) {
	const nbits = 0x1b04864c
	_, paddr := startPoolWith(t, func(pc *pool.Config) { pc.NBits = nbits })
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, w := range []string{"rig.a", "rig.b"} {
		m := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: w, HashRate: 50000})
		go m.Run(ctx)
	}
	accepted := func() int64 {
		var n int64
		for _, p := range a.Proxy.Pools() {
			n += int64(p.Shares[proxy.ResultPoolAccepted.String()])
		}
		return n
	}
	waitFor(t, "20 pool-accepted shares", func() bool { return accepted() >= 20 })
	cancel()

	const reward, netDiff = 312_500_000, 14484.1623612254
	if d := work.TargetFromNBits(nbits).Difficulty(); math.Abs(d-netDiff) > 1e-9 {
		t.Fatalf("network difficulty %v", d)
	}
	// Every pool verdict recorded, then flushed: the report reads the committed rollup.
	var diff, sats float64
	waitFor(t, "the report to match the proxy's pool-accepted count", func() bool {
		if err := a.Store.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		days, err := a.Store.EnergyReport(context.Background(), now.AddDate(0, 0, -1), now.AddDate(0, 0, 1), "")
		if err != nil {
			t.Fatal(err)
		}
		diff, sats = 0, 0
		for _, d := range days {
			diff += d.AcceptedDifficulty
			sats += d.ExpectedSats
		}
		st, err := a.Store.ShareStats(context.Background(), now.Add(-time.Hour), now.Add(time.Hour), "")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, w := range st {
			n += w.PoolAccepted.Count
		}
		return n > 0 && n == accepted()
	})
	want := diff * reward / netDiff
	if diff <= 0 || math.Abs(sats-want) > 1e-9*want {
		t.Fatalf("expected sats %v for accepted difficulty %v, want %v", sats, diff, want)
	}
}
