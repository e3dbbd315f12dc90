package proxy

import (
	"testing"
	"time"
)

func TestVardiffConverges(t *testing.T) {
	cfg := DefaultConfig().Difficulty
	cfg.Min = 1
	now := time.Unix(1000, 0)
	v := newVardiff(cfg, 1, now)
	// A miner doing 1000 diff-1 shares a minute should end near difficulty 50 (20/min).
	const hashRate = 1000.0 // diff-1 shares per minute
	for step := 0; step < 400; step++ {
		now = now.Add(time.Second)
		// shares found this second at the current difficulty
		n := hashRate / 60 / v.diff
		for k := 0; k < int(n+0.5); k++ {
			v.share(now)
		}
		if n < 0.5 {
			if step%int(1/n+1) == 0 {
				v.share(now)
			} else {
				v.tick(now)
			}
		}
	}
	if v.diff < 25 || v.diff > 100 {
		t.Fatalf("difficulty %v after convergence, want about 50", v.diff)
	}
}

func TestVardiffBoundsAndSilence(t *testing.T) {
	cfg := DefaultConfig().Difficulty
	cfg.Min, cfg.Max = 100, 1000
	now := time.Unix(0, 0)
	v := newVardiff(cfg, 50, now)
	if v.diff != 100 {
		t.Fatalf("initial below min not clamped: %v", v.diff)
	}
	if d := v.suggest(5000, now); d != 1000 {
		t.Fatalf("suggest above max: %v", d)
	}
	// Silence for a window quarters the difficulty (bounded by min).
	now = now.Add(cfg.RetargetEvery.D())
	d, changed := v.tick(now)
	if !changed || d != 250 {
		t.Fatalf("silent miner: %v %v", d, changed)
	}
}

func TestNiceDifficulty(t *testing.T) {
	for in, want := range map[float64]float64{16384.7: 16384, 1: 1, 0.123456: 0.1234, 0.00098765: 0.0009876} {
		if got := niceDifficulty(in); got != want {
			t.Errorf("niceDifficulty(%v) = %v want %v", in, got, want)
		}
	}
}
