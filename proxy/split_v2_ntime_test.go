package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner2"
)

// TestSplitV2SwitchBackIsLaterNTime: SV2 devices on standard channels without version
// rolling hash a job's header from nonce 0 every time they are given it; switched back to a
// pool of the split they would redo the work they did there before, and every share of it
// would be a duplicate, unless the job comes with a later ntime (NewMiningJob's min_ntime or
// SetNewPrevHash's). Over a minute of 6 s slices, with every miner mining both pools, no
// share is rejected, and the shares at later ntimes are accepted by the pools.
func TestSplitV2SwitchBackIsLaterNTime(t *testing.T) {
	pa, a1 := startSplitPool(t, 31)
	pb, a2 := startSplitPool(t, 32)
	k := newV2Keys(t)
	clk := clock.NewManual(time.Now())
	px, _ := startProxy(t, splitTestConfig([]float64{50, 50}, []int{0, 0}, a1, a2), Options{Clock: clk})
	l, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	ms := startMiners2(t, l.String(), k.authority.PublicKey(), 3, "sv2", func(i int, c *miner2.Config) {
		c.HashRate, c.VersionRolling, c.Standard = 12800, false, i != 2 // the third: extended
	})
	waitFor(t, "the split running with every miner mining", func() bool {
		return px.split.running() && len(px.Workers()) == 3 && allAccepted2(ms)
	})
	a0, b0 := pa.Accepted(), pb.Accepted()
	for i := range 60 {
		clk.Advance(time.Second)
		want := pa.Accepted() + pb.Accepted() + 20
		waitFor(t, fmt.Sprintf("step %d's shares", i), func() bool { return pa.Accepted()+pb.Accepted() >= want })
	}
	if pa.Accepted()-a0 < 100 || pb.Accepted()-b0 < 100 {
		t.Fatalf("pools accepted %d and %d shares over the minute: the split did not run", pa.Accepted()-a0, pb.Accepted()-b0)
	}
	for i, m := range ms {
		if r := m.Rejects(); len(r) != 0 {
			t.Fatalf("miner %d (standard %v) got rejects after switches: %v", i, i != 2, r)
		}
	}
}
