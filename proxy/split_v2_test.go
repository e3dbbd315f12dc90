package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner2"
)

// TestSplitCarriesV2Miners: SV2 miners, on standard and extended channels, are switched
// between the split's V1 pools like V1 miners: the same channel takes either pool's jobs
// (its extranonce prefix is a slot on the same connection index of both), and each pool
// accepts every miner's shares under its name.
func TestSplitCarriesV2Miners(t *testing.T) {
	pa, a1 := startSplitPool(t, 81)
	pb, a2 := startSplitPool(t, 82)
	clk := clock.NewManual(time.Now())
	px, _ := startProxy(t, splitTestConfig([]float64{30, 70}, []int{0, 0}, a1, a2), Options{Clock: clk})
	k := newV2Keys(t)
	addr, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	ms := startMiners2(t, addr.String(), k.authority.PublicKey(), 4, "splitv", func(i int, c *miner2.Config) { c.HashRate = 2560 })
	advanceUntil(t, clk, "every V2 miner's shares accepted at both pools", func() bool {
		for i := range ms {
			w := fmt.Sprintf("acct.splitv.v%02d", i)
			if pa.AcceptedBy(w) == 0 || pb.AcceptedBy(w) == 0 {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		if n := m.Stats.Connects.Load(); n != 1 {
			t.Fatalf("a V2 miner connected %d times", n)
		}
	}
	for _, ps := range px.Pools() {
		if ps.Shares["pool_rejected"] != 0 {
			t.Fatalf("%s rejected %d shares", ps.Name, ps.Shares["pool_rejected"])
		}
	}
}
