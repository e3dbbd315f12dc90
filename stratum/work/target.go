package work

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// Target is a 256-bit threshold in big-endian byte order (most significant byte first). A hash
// meets a target when, read as a little-endian integer, it is less than or equal to it.
type Target [32]byte

// ErrBadDifficulty is returned for a difficulty that is zero, negative, NaN or infinite.
var ErrBadDifficulty = errors.New("work: difficulty must be a finite number > 0")

// diff1 is the Stratum ("bdiff") difficulty-1 target, 0xFFFF·2^208, the target of nbits 1d00ffff.
var diff1 = new(big.Int).Lsh(big.NewInt(0xFFFF), 208)

// maxTarget is 2^256-1, the easiest target that fits in 32 bytes.
var maxTarget = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Diff1 returns the difficulty-1 target.
func Diff1() Target { return targetFromInt(diff1) }

// TargetFromDifficulty returns floor(diff1 / d) computed exactly from the shortest decimal text
// of d, so a difficulty received as "16383.75" or "9427.960695338843" gives the same target a
// pool computes from that text. Difficulties below about 2^-32 saturate at 2^256-1.
func TargetFromDifficulty(d float64) (Target, error) {
	if !(d > 0) || math.IsInf(d, 0) {
		return Target{}, ErrBadDifficulty
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(d, 'g', -1, 64))
	if !ok {
		return Target{}, ErrBadDifficulty
	}
	// floor(diff1 * den / num)
	n := new(big.Int).Mul(diff1, r.Denom())
	n.Quo(n, r.Num())
	if n.Cmp(maxTarget) > 0 {
		n.Set(maxTarget)
	}
	return targetFromInt(n), nil
}

// MustTarget is TargetFromDifficulty for constants; it panics on a bad difficulty.
func MustTarget(d float64) Target {
	t, err := TargetFromDifficulty(d)
	if err != nil {
		panic(fmt.Sprintf("work.MustTarget(%v): %v", d, err))
	}
	return t
}

// TargetFromNBits decodes a compact "nbits" value (as a uint32, e.g. 0x1705ae3a) into the
// network target: mantissa (low 23 bits) · 256^(exponent−3). A negative or overflowing encoding
// gives the zero target, which no hash meets.
func TargetFromNBits(bits uint32) Target {
	exp := int(bits >> 24)
	mant := bits & 0x007fffff
	if bits&0x00800000 != 0 || mant == 0 {
		return Target{}
	}
	n := new(big.Int).SetUint64(uint64(mant))
	if exp <= 3 {
		n.Rsh(n, uint(8*(3-exp)))
	} else {
		n.Lsh(n, uint(8*(exp-3)))
	}
	if n.BitLen() > 256 {
		return Target{}
	}
	return targetFromInt(n)
}

// Int returns the target as a big integer.
func (t Target) Int() *big.Int { return new(big.Int).SetBytes(t[:]) }

// Difficulty returns diff1 / target as a float64, for display and vardiff.
func (t Target) Difficulty() float64 {
	n := t.Int()
	if n.Sign() == 0 {
		return math.Inf(1)
	}
	f, _ := new(big.Rat).SetFrac(diff1, n).Float64()
	return f
}

// Harder reports whether t is strictly harder (smaller) than u.
func (t Target) Harder(u Target) bool {
	for i := range t {
		if t[i] != u[i] {
			return t[i] < u[i]
		}
	}
	return false
}

// Met reports whether hash (32 bytes as SHA-256 outputs them, i.e. little-endian) meets t.
// It does no allocation: it compares the reversed hash with t from the most significant byte.
func (t *Target) Met(hash *[32]byte) bool {
	// Compare as four big-endian 64-bit words; hash word i (from the top) is the
	// little-endian uint64 at hash[24-8i:].
	for i := 0; i < 4; i++ {
		h := binary.LittleEndian.Uint64(hash[24-8*i:])
		w := binary.BigEndian.Uint64(t[8*i:])
		if h != w {
			return h < w
		}
	}
	return true
}

// String returns the target as 64 hex digits, most significant first.
func (t Target) String() string { return fmt.Sprintf("%x", t[:]) }

// HashDifficulty returns diff1 / hash for a hash as SHA-256 outputs it; this is the share
// difficulty used for logging, vardiff and block-candidate display.
func HashDifficulty(hash *[32]byte) float64 {
	var be [32]byte
	for i := range be {
		be[i] = hash[31-i]
	}
	n := new(big.Int).SetBytes(be[:])
	if n.Sign() == 0 {
		return math.Inf(1)
	}
	f, _ := new(big.Rat).SetFrac(diff1, n).Float64()
	return f
}

// HashDifficultyFast is HashDifficulty in float64 arithmetic (relative error below 1e-15),
// for the per-share path where an allocation-free estimate is enough.
func HashDifficultyFast(hash *[32]byte) float64 {
	// value = Σ word_i · 2^(64·i), words little-endian from hash[0:].
	var v float64
	for i := 3; i >= 0; i-- {
		v = v*18446744073709551616.0 + float64(binary.LittleEndian.Uint64(hash[8*i:]))
	}
	if v == 0 {
		return math.Inf(1)
	}
	return diff1Float / v
}

var diff1Float, _ = new(big.Float).SetInt(diff1).Float64()

func targetFromInt(n *big.Int) Target {
	var t Target
	n.FillBytes(t[:])
	return t
}
