package proxy

import (
	"math"
	"time"
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
	return niceDifficulty(d)
}

// niceDifficulty keeps difficulties at or above 1 whole (ckpool and several firmwares only
// parse integers) and below 1 to four significant digits.
func niceDifficulty(d float64) float64 {
	if d >= 1 {
		return math.Floor(d)
	}
	p := math.Pow(10, 3-math.Floor(math.Log10(d)))
	return math.Floor(d*p) / p
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
