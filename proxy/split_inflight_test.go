package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/miner2"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// TestSplitStartKeepsSharesInFlight: when the split starts, the miners moved to the pool
// that joins get its first job as a retiring one (the pool's first work in their group),
// yet the pool they leave is still in the split: the shares they found on its job and send
// after the switch are judged against that job and forwarded there, never called stale. V1
// miners and SV2 standard and extended channels alike.
func TestSplitStartKeepsSharesInFlight(t *testing.T) {
	pa, a1 := startSplitPool(t, 121)
	// pool1 accepts the proxy's connection but answers only once it serves: until then it
	// has no job and the fleet mines pool0 alone.
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := simpool.DefaultConfig()
	cfg.Difficulty, cfg.JobInterval, cfg.BlockInterval, cfg.Seed = splitDiff, 0, 0, 122
	pb, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pb.Close)
	t.Cleanup(func() { l1.Close() })
	k := newV2Keys(t)
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, splitTestConfig([]float64{50, 50}, []int{0, 0}, a1, l1.Addr().String()), Options{Clock: clk})
	l, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	v1 := startMiners(t, addr, 3, "inflight", func(c *miner.Config) { c.HashRate = 12800 })
	v2 := startMiners2(t, l.String(), k.authority.PublicKey(), 3, "inflight2", func(i int, c *miner2.Config) {
		c.HashRate, c.VersionRolling, c.Standard = 12800, false, i != 2
	})
	waitFor(t, "every miner mining pool0 alone", func() bool {
		if px.split.running() || len(px.Workers()) != 6 || !allAccepted2(v2) {
			return false
		}
		for _, m := range v1 {
			if m.Stats.Accepted.Load() == 0 {
				return false
			}
		}
		return true
	})
	pb.Serve(l1)
	waitFor(t, "the split running", px.split.running)
	moved := func() int {
		n := 0
		for _, w := range px.Workers() {
			if w.Pool == "pool1" {
				n++
			}
		}
		return n
	}
	waitFor(t, "miners moved to pool1", func() bool { return moved() > 0 })
	// Every miner's shares on both pools: the schedule moves each at least once.
	base := pa.Accepted() + pb.Accepted()
	advanceUntil(t, clk, "every miner on both pools", func() bool {
		for _, m := range v1 {
			if pa.AcceptedBy("acct."+m.Worker()) == 0 || pb.AcceptedBy("acct."+m.Worker()) == 0 {
				return false
			}
		}
		return pa.Accepted()+pb.Accepted() > base+200
	})
	for i, m := range v1 {
		if r := m.Rejects(); len(r) != 0 {
			t.Errorf("V1 miner %d got rejects across the split's start: %v", i, r)
		}
	}
	for i, m := range v2 {
		if r := m.Rejects(); len(r) != 0 {
			t.Errorf("SV2 miner %d (standard %v) got rejects across the split's start: %v", i, i != 2, r)
		}
	}
}
