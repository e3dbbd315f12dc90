package proxy

import (
	"strconv"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestCappedMinerGetsNoJobPerRetarget: a miner far faster than vardiff wants, held at the
// pool's difficulty, keeps asking vardiff for a harder difficulty that the pool's cap takes
// back. Its job must not be re-sent (clean, so firmware drops its work) at every retarget.
//
// Vardiff runs on the proxy's clock, moved a second at a time with 8 shares in each second,
// so every retarget sees 8 shares where it wants 1 whatever the machine's load (measured in
// real time, a loaded box made too few shares a second to give vardiff cause).
func TestCappedMinerGetsNoJobPerRetarget(t *testing.T) {
	poolDiff := 1.0 / (1 << 24) // about 256 hashes a share
	_, paddr := startPool(t, func(c *simpool.Config) {
		c.Difficulty, c.JobInterval, c.BlockInterval = poolDiff, 0, 0
	})
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial, cfg.Difficulty.Min = poolDiff, poolDiff/16
	cfg.Difficulty.RetargetEvery, cfg.Difficulty.SharesPerMinute = Duration(time.Second), 60
	clk := clock.NewManual(time.Now())
	_, addr := startProxy(t, cfg, Options{Clock: clk})
	m := dialShareMiner(t, addr, "rack3.capped")

	const retargets, perSecond = 4, 8
	notifies, shares := 0, 0
	submit := func() {
		t.Helper()
		s := m.find(func(*[32]byte) bool { return true })
		m.id++
		line, err := sv1.AppendRequest(nil, sv1.IntID(int64(m.id)), s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.c.Write(line); err != nil {
			t.Fatal(err)
		}
		id := strconv.Itoa(m.id)
		r := m.next(func(msg *sv1.Message) bool {
			if msg.Method == sv1.MethodNotify {
				notifies++
			}
			return msg.IsResponse() && string(msg.ID) == id
		})
		if !r.Accepted() {
			t.Fatalf("share %d: %v", shares, r.Error)
		}
		shares++
	}
	for range retargets {
		for range perSecond {
			submit()
		}
		clk.Advance(time.Second) // a retarget is due: 8 shares in a second, vardiff wants 1
	}
	// A job re-sent by the last retarget comes before the answer to a share sent after it.
	submit()
	if notifies != 0 {
		t.Fatalf("%d jobs re-sent over %d shares and %d retargets to a miner held at the pool's difficulty", notifies, shares, retargets)
	}
}
