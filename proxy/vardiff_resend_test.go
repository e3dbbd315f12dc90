package proxy

import (
	"strconv"
	"testing"
	"time"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestCappedMinerGetsNoJobPerRetarget: a miner far faster than vardiff wants, held at the
// pool's difficulty, keeps asking vardiff for a harder difficulty that the pool's cap takes
// back. Its job must not be re-sent (clean, so firmware drops its work) at every retarget.
func TestCappedMinerGetsNoJobPerRetarget(t *testing.T) {
	// 2^-24: about 256 hashes a share, so even a loaded box under -race makes shares far
	// faster than the 1 a second vardiff asks for.
	poolDiff := 1.0 / (1 << 24)
	_, paddr := startPool(t, func(c *simpool.Config) {
		c.Difficulty, c.JobInterval, c.BlockInterval = poolDiff, 0, 0
	})
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial, cfg.Difficulty.Min = poolDiff, poolDiff/16
	cfg.Difficulty.RetargetEvery, cfg.Difficulty.SharesPerMinute = Duration(time.Second), 60
	_, addr := startProxy(t, cfg, Options{})
	m := dialShareMiner(t, addr, "rack3.capped")

	notifies, shares := 0, 0
	// At least 2.5 s (two retargets) and 12 shares, whichever comes later.
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond || shares < 12 {
		if time.Since(start) > time.Minute {
			t.Fatalf("only %d shares in a minute", shares)
		}
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
		time.Sleep(20 * time.Millisecond)
	}
	// Vardiff wants 1 share/s and retargets each second: more than 1.5 a second makes it ask
	// for a harder difficulty.
	if rate := float64(shares) / time.Since(start).Seconds(); rate < 3 {
		t.Fatalf("%.1f shares/s: vardiff never had cause to ask for a harder difficulty", rate)
	}
	if notifies != 0 {
		t.Fatalf("%d jobs re-sent over %d shares to a miner held at the pool's difficulty", notifies, shares)
	}
}
