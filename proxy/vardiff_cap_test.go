package proxy

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// poolTargets are pool targets as V1 set_difficulty values and SV2 SetTarget bytes give them:
// round binary fractions, decimals, whole and fractional values above 1, and arbitrary targets.
func poolTargets(t *testing.T) []work.Target {
	t.Helper()
	var out []work.Target
	for _, d := range []float64{0.015625, 1.52587890625e-05, 1e-5, 0.001, 0.1, 0.3, 1, 3, 7.886, 1000.5, 16384, 65536.7, 9427.960695338843} {
		out = append(out, work.MustTarget(d))
	}
	rng := rand.New(rand.NewPCG(7, 9))
	for range 200 {
		// A target with 1 to 8 leading zero bytes and random bits below, as an SV2 pool's
		// vardiff may set it.
		var tg work.Target
		z := 1 + rng.IntN(8)
		for i := z; i < len(tg); i++ {
			tg[i] = byte(rng.Uint32())
		}
		if tg != (work.Target{}) {
			out = append(out, tg)
		}
	}
	return out
}

// TestPoolDifficultyNeverHarderThanPool: the difficulty a pool's target is told to miners as
// gives a target no harder than the pool's, and it is the largest float64 that does.
func TestPoolDifficultyNeverHarderThanPool(t *testing.T) {
	for _, pt := range poolTargets(t) {
		pd := poolDifficulty(pt)
		if !(pd > 0) {
			t.Fatalf("target %s: no difficulty", pt)
		}
		mt := work.MustTarget(pd)
		if mt.Harder(pt) {
			t.Fatalf("target %s: difficulty %v gives the harder target %s", pt, pd, mt)
		}
		if up := work.MustTarget(math.Nextafter(pd, math.Inf(1))); !up.Harder(pt) {
			t.Fatalf("target %s: %v is not the largest difficulty within the pool's target", pt, pd)
		}
	}
	if d := poolDifficulty(work.Target{}); d != 0 {
		t.Fatalf("zero target: %v", d)
	}
}

// TestMinerDifficultyAgreesAndStaysUnderPool: the difficulty a miner is sent for a wanted
// value w is the same whether w came from its configured start, a mining.suggest_difficulty or
// a vardiff retarget; it is never above the pool's, its target never harder than the pool's,
// and its set_difficulty decimal parses back to exactly the value shares are judged by.
func TestMinerDifficultyAgreesAndStaysUnderPool(t *testing.T) {
	cfg := DifficultyConfig{Initial: 1, Min: 1e-9, SharesPerMinute: 20, RetargetEvery: Duration(30 * time.Second)}
	now := time.Unix(1e9, 0)
	for _, pt := range poolTargets(t) {
		pd := poolDifficulty(pt)
		wants := []float64{pd * 1e6, pd * 2, pd, math.Nextafter(pd, 0), niceDifficulty(pd), pd * 0.99999, pd * 0.9, pd / 2, pd / 1000}
		for _, w := range wants {
			if w < cfg.Min {
				continue
			}
			viaStart := newVardiff(cfg, w, now)
			viaSuggest := newVardiff(cfg, cfg.Initial, now)
			viaSuggest.suggest(w, now)
			// Vardiff doubling a miner at w/2 that sends twice the wanted rate (20 shares in a
			// window that wants 10).
			viaRetarget := newVardiff(cfg, cfg.Initial, now)
			viaRetarget.diff = w / 2
			for range 19 {
				viaRetarget.share(now)
			}
			if _, changed := viaRetarget.share(now.Add(cfg.RetargetEvery.D())); !changed {
				t.Fatalf("pool %v want %v: vardiff did not retarget", pd, w)
			}
			got := viaStart.capAt(pd)
			if s, r := viaSuggest.capAt(pd), viaRetarget.capAt(pd); s != got || r != got {
				t.Fatalf("pool %v want %v: start %v, suggest %v, vardiff %v", pd, w, got, s, r)
			}
			if got > pd {
				t.Fatalf("pool %v want %v: sent %v, above the pool", pd, w, got)
			}
			mt := work.MustTarget(got)
			if mt.Harder(pt) {
				t.Fatalf("pool %v want %v: target %s harder than the pool's %s", pd, w, mt, pt)
			}
			num := sv1.DifficultyNumber(got)
			back, err := strconv.ParseFloat(string(num), 64)
			if err != nil || back != got || work.MustTarget(back) != mt {
				t.Fatalf("pool %v want %v: sent %q for %v", pd, w, num, got)
			}
		}
	}
}

// TestDifficultyAtThePoolIsThePools: a miner at, above or within rounding of the pool's
// 0.015625 is sent 0.015625 (four significant digits would be 0.01562), one clearly below it
// a nice value of its own.
func TestDifficultyAtThePoolIsThePools(t *testing.T) {
	cfg := DifficultyConfig{Initial: 16384, Min: 1e-7, SharesPerMinute: 20, RetargetEvery: Duration(30 * time.Second)}
	pd := poolDifficulty(work.MustTarget(0.015625))
	if pd != 0.015625 {
		t.Fatalf("pool difficulty %v", pd)
	}
	now := time.Unix(0, 0)
	for w, want := range map[float64]string{16384: "0.015625", 1: "0.015625", 0.015625: "0.015625", 0.0156249: "0.015625",
		0.01562: "0.015625", 0.0156: "0.0156", 0.001234567: "0.001234"} {
		v := newVardiff(cfg, cfg.Initial, now)
		v.suggest(w, now)
		if got := sv1.DifficultyNumber(v.capAt(pd)); string(got) != want {
			t.Errorf("suggest %v under pool 0.015625: sent %s, want %s", w, got, want)
		}
	}
	// Above 1 the cap is whole, like every difficulty hashgate sends.
	v := newVardiff(cfg, cfg.Initial, now)
	if got := v.capAt(poolDifficulty(work.MustTarget(1000.5))); got != 1000 {
		t.Errorf("pool 1000.5: sent %v, want 1000", got)
	}
}

// TestDifficultyFloorIsNotRoundedBelow: a floor that is not a nice value (an operator's
// min, a miner's minimum-difficulty, an SV2 device's max_target) is sent as itself.
func TestDifficultyFloorIsNotRoundedBelow(t *testing.T) {
	cfg := DifficultyConfig{Initial: 1, Min: 0.015625, SharesPerMinute: 20, RetargetEvery: Duration(30 * time.Second)}
	now := time.Unix(0, 0)
	v := newVardiff(cfg, 0.001, now)
	if v.diff != 0.015625 {
		t.Fatalf("start below the floor: %v, want 0.015625", v.diff)
	}
	if d := v.suggest(0.0156249, now); d != 0.015625 {
		t.Fatalf("suggest just below the floor: %v, want 0.015625", d)
	}
	now = now.Add(cfg.RetargetEvery.D())
	if d, _ := v.tick(now); d != 0.015625 {
		t.Fatalf("silent miner at the floor: %v", d)
	}
}

// TestNiceDifficultyNeverRoundsUp: rounding only ever goes down, so it never crosses a cap.
func TestNiceDifficultyNeverRoundsUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		d := math.Exp(rng.Float64()*60 - 40)
		n := niceDifficulty(d)
		if n > d || !(n > 0) {
			t.Fatalf("niceDifficulty(%v) = %v", d, n)
		}
		if d < 1 {
			// Four significant digits: within one unit of the fourth digit below d.
			lost := new(big.Float).Quo(big.NewFloat(d-n), big.NewFloat(d))
			if f, _ := lost.Float64(); f > 1e-3 {
				t.Fatalf("niceDifficulty(%v) = %v loses too much", d, n)
			}
		}
	}
}
