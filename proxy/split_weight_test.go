package proxy

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestSplitWeightEditedLive: a weight edit at run time keeps the pool (no redial, counters
// kept) and re-plans the split at once: weight 0 takes pool1 out of the split, which ends,
// and the first pool of the priority takes every miner; weights 1/3 split them again, pool0
// at a quarter, with every miner mining pool1 again. The running set and the pool rows show the edited weights; a weight that cannot
// split time is refused naming the key, and nothing changes.
func TestSplitWeightEditedLive(t *testing.T) {
	r := startSplitRig(t, 131, []float64{50, 50}, []int{0, 0}, "reweigh", 2560)
	pa, pb, clk, px, ms := r.pools[0], r.pools[1], r.clk, r.px, r.ms
	advanceUntil(t, clk, "every miner on both pools", func() bool {
		for _, m := range ms {
			if pa.AcceptedBy("acct."+m.Worker()) == 0 || workerPools(px)[m.Worker()] == "" {
				return false
			}
		}
		return px.split.running()
	})
	before := px.poolList()
	accepted1 := px.Pools()[1].Shares["accepted"]
	setWeights := func(w0, w1 float64) error {
		pcs := px.PoolConfigs()
		pcs[0].Weight, pcs[1].Weight = w0, w1
		return px.SetPools(pcs)
	}

	if err := setWeights(50, 0); err != nil {
		t.Fatal(err)
	}
	// SetPools decided the split at once: no clock tick needed.
	if px.split.running() || px.split.has(before[1]) {
		t.Fatal("pool1 at weight 0 still in the split")
	}
	waitFor(t, "every miner on pool0", func() bool {
		for _, m := range ms {
			if workerPools(px)[m.Worker()] != "pool0" {
				return false
			}
		}
		return true
	})
	after := px.poolList()
	if after[0] != before[0] || after[1] != before[1] {
		t.Fatal("a weight edit replaced the pool (it would redial)")
	}
	rows := px.Pools()
	if rows[0].Weight != 50 || rows[1].Weight != 0 || rows[1].Shares["accepted"] < accepted1 || rows[1].State != "up" {
		t.Fatalf("rows after the edit: weight %v/%v, pool1 accepted %d (was %d), state %s", rows[0].Weight, rows[1].Weight, rows[1].Shares["accepted"], accepted1, rows[1].State)
	}

	if err := setWeights(1, 3); err != nil {
		t.Fatal(err)
	}
	if !px.split.running() {
		t.Fatal("weights 1/3 did not start the split")
	}
	px.split.mu.Lock()
	shares := []float64{px.split.members[0].share, px.split.members[1].share}
	px.split.mu.Unlock()
	if shares[0] != 0.25 || shares[1] != 0.75 {
		t.Fatalf("split shares %v, want [0.25 0.75]", shares)
	}
	base := map[string]uint64{}
	for _, m := range ms {
		base[m.Worker()] = pb.AcceptedBy("acct." + m.Worker())
	}
	advanceUntil(t, clk, "every miner back on pool1", func() bool {
		for _, m := range ms {
			if pb.AcceptedBy("acct."+m.Worker()) <= base[m.Worker()] {
				return false
			}
		}
		return true
	})
	if pcs := px.PoolConfigs(); pcs[0].Weight != 1 || pcs[1].Weight != 3 {
		t.Fatalf("running set weights %v/%v", pcs[0].Weight, pcs[1].Weight)
	}

	for _, w := range []float64{-1, math.NaN(), math.Inf(1)} {
		err := setWeights(w, 3)
		if !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), "pool[0].weight:") {
			t.Fatalf("weight %v: SetPools said %v", w, err)
		}
	}
	if pcs := px.PoolConfigs(); pcs[0].Weight != 1 || !px.split.running() {
		t.Fatalf("a refused edit changed the weight to %v (split %v)", pcs[0].Weight, px.split.running())
	}
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("%s reconnected", m.Worker())
		}
	}
}
