package proxy

import (
	"math"
	"time"

	"github.com/hashgate/hashgate/stratum/work"
)

// vardiff steers one miner's difficulty toward a share rate. It is plain data driven by the
// caller's clock, so it is tested without sleeping. Not safe for concurrent use: it belongs to
// one miner session's reader.
type vardiff struct {
	cfg    DifficultyConfig
	diff   float64 // what the miner should be at (before capping by the pool's difficulty)
	start  time.Time
	shares int
}

func newVardiff(cfg DifficultyConfig, initial float64, now time.Time) vardiff {
	v := vardiff{cfg: cfg, start: now}
	v.diff = v.clamp(initial)
	return v
}

func (v *vardiff) clamp(d float64) float64 {
	if math.IsNaN(d) || math.IsInf(d, -1) {
		d = v.cfg.Min
	}
	if math.IsInf(d, 1) {
		d = math.MaxFloat64
	}
	if d < v.cfg.Min {
		d = v.cfg.Min
	}
	if v.cfg.Max > 0 && d > v.cfg.Max {
		d = v.cfg.Max
	}
	// Rounding must not cross the minimum (an operator's floor, or the easiest target an SV2
	// device accepts): at the floor the floor itself is sent, as its shortest decimal.
	return max(niceDifficulty(d), v.cfg.Min)
}

// niceDifficulty keeps difficulties at or above 1 whole (ckpool and several firmwares only
// parse integers) and below 1 to four significant digits. It never rounds up, so it never
// crosses a cap above d.
func niceDifficulty(d float64) float64 {
	if d >= 1 {
		return math.Floor(d)
	}
	if !(d > 0) {
		return d
	}
	p := math.Pow(10, 3-math.Floor(math.Log10(d)))
	n := math.Floor(d * p)
	r := n / p
	if r > d {
		// d*p rounded up to the next integer: step back one.
		r = (n - 1) / p
	}
	return r
}

// poolCap is the highest difficulty a miner may be given under a pool at difficulty pool: the
// pool's own below 1 (four significant digits would fall short of it: 0.015625 is not
// 0.01562), whole at or above 1 like every difficulty hashgate sends.
func poolCap(pool float64) float64 {
	if pool >= 1 {
		return math.Floor(pool)
	}
	return pool
}

// capAt keeps the difficulty at or below the pool's (pool as poolDifficulty gives it, 0 when
// unknown) and returns the difficulty in force. A difficulty that rounds to the same value as
// the cap is raised to the cap itself, so vardiff climbing toward the pool and a suggestion at
// or above it end on one value, the pool's. Vardiff then steers from the capped value, so it
// does not climb past it.
func (v *vardiff) capAt(pool float64) float64 {
	if pool > 0 {
		if c := poolCap(pool); v.diff >= c || niceDifficulty(v.diff) >= niceDifficulty(c) {
			v.diff = c
		}
	}
	return v.diff
}

// poolDifficulty is the difficulty a pool's target t is sent to miners as: the largest float64
// whose target (work.TargetFromDifficulty, the one shares are judged against) is not harder
// than t, so every share the pool would take also meets the miner's target. 0: no usable
// difficulty (a zero target).
func poolDifficulty(t work.Target) float64 {
	d := t.Difficulty()
	if !(d > 0) || math.IsInf(d, 0) {
		return 0
	}
	// t.Difficulty is correctly rounded, so at most a step or two separates it from the answer.
	for range 64 {
		mt, err := work.TargetFromDifficulty(d)
		if err != nil {
			return 0
		}
		if !mt.Harder(t) {
			return d
		}
		d = math.Nextafter(d, 0)
	}
	return 0
}

// share counts one accepted share at the current difficulty and reports a new difficulty when
// the observed rate has drifted far enough from the target for long enough.
func (v *vardiff) share(now time.Time) (float64, bool) {
	v.shares++
	return v.retarget(now)
}

// tick lets a silent miner's difficulty come down.
func (v *vardiff) tick(now time.Time) (float64, bool) { return v.retarget(now) }

func (v *vardiff) retarget(now time.Time) (float64, bool) {
	elapsed := now.Sub(v.start)
	every := v.cfg.RetargetEvery.D()
	expected := v.cfg.SharesPerMinute * elapsed.Minutes()
	// Ramp up early when a miner is far too fast (a new S21 at a tiny start difficulty), so it
	// does not flood the proxy for a whole window.
	early := elapsed >= every/6 && float64(v.shares) >= 4*expected && v.shares >= 8
	if elapsed < every && !early {
		return v.diff, false
	}
	var ratio float64
	switch {
	case v.shares == 0:
		ratio = 0.25
	default:
		ratio = float64(v.shares) / expected
	}
	v.start, v.shares = now, 0
	if ratio > 0.66 && ratio < 1.5 {
		return v.diff, false
	}
	ratio = math.Max(1.0/16, math.Min(16, ratio))
	nd := v.clamp(v.diff * ratio)
	if nd == v.diff {
		return v.diff, false
	}
	v.diff = nd
	return nd, true
}

// suggest applies a miner's mining.suggest_difficulty within the configured bounds.
func (v *vardiff) suggest(d float64, now time.Time) float64 {
	if d > 0 && !math.IsInf(d, 0) {
		v.diff = v.clamp(d)
		v.start, v.shares = now, 0
	}
	return v.diff
}
