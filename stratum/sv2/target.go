package sv2

import (
	"errors"
	"math"
	"math/big"
)

// ErrInvalidHashrate is returned by TargetFromHashrate for a negative or
// non-finite hashrate, or a share rate that is not a positive finite number.
var ErrInvalidHashrate = errors.New("sv2: invalid hashrate or share rate")

var (
	maxU256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	maxU128 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
)

// TargetFromHashrate returns the channel target at which a device hashing
// at hashrate (h/s) finds sharesPerMinute shares per minute on average, as
// SRI's hash_rate_to_target computes it for a channel's first target:
//
//	hs = ⌊hashrate · (60 / sharesPerMinute)⌋ (saturating at 2^128-1)
//	target = ⌊(2^256 - 1 - hs) / (hs + 1)⌋
//
// A hashrate of 0 (a proxy with no miners yet) gives the easiest target.
func TargetFromHashrate(hashrate, sharesPerMinute float64) (U256, error) {
	if !(sharesPerMinute > 0) || math.IsInf(sharesPerMinute, 0) ||
		!(hashrate >= 0) || math.IsInf(hashrate, 0) {
		return U256{}, ErrInvalidHashrate
	}
	// Same operation order as SRI, so float rounding matches.
	// The float-to-u128 conversion saturates like Rust's `as`: NaN (0·∞)
	// becomes 0 and anything at or above 2^128 becomes 2^128-1.
	hs := hashrate * (60 / sharesPerMinute)
	n := new(big.Int)
	switch {
	case math.IsNaN(hs):
	case math.IsInf(hs, 1):
		n.Set(maxU128)
	default:
		big.NewFloat(hs).Int(n)
		if n.Cmp(maxU128) > 0 {
			n.Set(maxU128)
		}
	}
	t := new(big.Int).Sub(maxU256, n)
	t.Quo(t, n.Add(n, big.NewInt(1)))
	var out U256
	be := t.FillBytes(make([]byte, 32))
	for i := range out {
		out[i] = be[31-i]
	}
	return out, nil
}
