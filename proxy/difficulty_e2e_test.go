package proxy

import (
	"strconv"
	"testing"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// watchDifficulty reads a raw miner's lines until its suggest_difficulty (id) is answered and
// the set_difficulty in force is want, failing on any set_difficulty above the pool's (limit).
func watchDifficulty(t *testing.T, r *rawMiner, id, want string, limit float64) {
	t.Helper()
	var inForce string
	answered := false
	r.next(func(m *sv1.Message) bool {
		if m.IsResponse() && string(m.ID) == id {
			answered = true
		}
		if m.Method == sv1.MethodSetDifficulty {
			var sd sv1.SetDifficulty
			if err := m.UnmarshalParams(&sd); err != nil {
				t.Fatalf("set_difficulty %s: %v", m.Params, err)
			}
			inForce = string(sd.Difficulty)
			if d, _ := strconv.ParseFloat(inForce, 64); d > limit {
				t.Fatalf("sent set_difficulty %s, above the pool's %v", inForce, limit)
			}
		}
		return answered && inForce == want
	})
}

// TestDifficultyAtPoolsFractionalDifficultyE2E: under a pool at 0.015625, a miner whose vardiff
// starts just under the pool, one suggesting a higher difficulty and one suggesting the pool's
// own are all told 0.015625, the pool's difficulty, not 0.01562.
func TestDifficultyAtPoolsFractionalDifficultyE2E(t *testing.T) {
	_, paddr := startPool(t, func(c *simpool.Config) { c.Difficulty = 0.015625 })
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial = 0.0156249 // four significant digits: 0.01562
	_, addr := startProxy(t, cfg, Options{})

	start := dialRaw(t, addr)
	start.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
	start.send(`{"id":2,"method":"mining.authorize","params":["rack3.start","x"]}`)
	watchDifficulty(t, start, "2", "0.015625", 0.015625)

	for i, suggest := range []string{"1", "0.015625", "0.0156249"} {
		r := dialRaw(t, addr)
		r.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
		r.send(`{"id":2,"method":"mining.authorize","params":["rack3.s` + strconv.Itoa(i) + `","x"]}`)
		r.send(`{"id":3,"method":"mining.suggest_difficulty","params":[` + suggest + `]}`)
		watchDifficulty(t, r, "3", "0.015625", 0.015625)
	}
}

// TestSharesAtPoolDifficultyReachThePoolE2E: under a pool at 2^-16 (0.0000152587890625, which
// four significant digits would make the easier 0.00001525), the miner is told the pool's
// difficulty exactly, so every share it finds meets the pool's target too: each is accepted,
// forwarded and accepted by the pool.
func TestSharesAtPoolDifficultyReachThePoolE2E(t *testing.T) {
	const worker = "rack3.shares"
	poolDiff := 1.52587890625e-05
	sp, paddr := startPool(t, func(c *simpool.Config) { c.Difficulty = poolDiff })
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial = 1.5258e-05 // vardiff starts just under the pool's
	px, addr := startProxy(t, cfg, Options{})
	m := dialShareMiner(t, addr, worker)
	if m.diff != poolDiff {
		t.Fatalf("miner told difficulty %v, want the pool's %v", m.diff, poolDiff)
	}
	if m.target != work.MustTarget(poolDiff) {
		t.Fatalf("miner target %s is not the pool's", m.target)
	}
	const shares = 5
	for range shares {
		if r := m.submit(m.find(func(*[32]byte) bool { return true })); !r.Accepted() {
			t.Fatalf("share at the pool's difficulty: %v", r.Error)
		}
	}
	eventually(t, "the pool to accept every share", func() bool { return sp.AcceptedBy("acct."+worker) == shares })
	if w := workerRow(t, px, worker); w.Shares["forwarded"] != shares || w.Shares["not_forwarded"] != 0 || w.Difficulty != poolDiff {
		t.Fatalf("worker: difficulty %v shares %v", w.Difficulty, w.Shares)
	}
}
