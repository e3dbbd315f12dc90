package work

import (
	"errors"
	"fmt"
	"math"
)

// Layout is how hashgate splits an upstream extranonce2 region among downstream miners.
//
// The upstream gives (E1, N): a fixed extranonce1 and N bytes we may choose. Every miner gets a
// fixed-width prefix P of PrefixSize bytes and chooses MinerSize bytes x itself. Downstream the
// miner is told extranonce1 = P and extranonce2_size = MinerSize, and its coinb1 is the pool's
// coinb1 ‖ E1 while its coinb2 is Pad ‖ coinb2, where Pad fills the N − PrefixSize − MinerSize
// bytes that are left. Upstream the share's extranonce2 is P ‖ x ‖ Pad. The coinbase bytes are
// identical on both sides.
//
// Because E1 lives in the coinbase the miner is sent, not in its extranonce1, a miner keeps
// the same extranonce1 and extranonce2_size whichever pool (and upstream connection) it is
// mining for: failover only changes the coinbase it is sent, and a fixed-width prefix can never
// alias another miner's (prefix, extranonce2) pair.
type Layout struct {
	PrefixSize int
	MinerSize  int
}

// ErrLayoutDoesNotFit is returned when an upstream's extranonce2 region is too small.
var ErrLayoutDoesNotFit = errors.New("work: upstream extranonce2 too small for the layout")

// MinMinerSize is the least extranonce2 a miner is ever given (cgminer's floor; with fewer
// bytes a fast ASIC exhausts its search space within seconds).
const MinMinerSize = 2

// Validate checks that the layout is usable.
func (l Layout) Validate() error {
	if l.PrefixSize < 0 || l.PrefixSize > 8 {
		return fmt.Errorf("work: prefix size %d out of range 0..8", l.PrefixSize)
	}
	if l.MinerSize < MinMinerSize || l.MinerSize > 8 {
		return fmt.Errorf("work: miner extranonce2 size %d out of range %d..8", l.MinerSize, MinMinerSize)
	}
	return nil
}

// Fits reports whether an upstream with extranonce2 size n can carry this layout.
func (l Layout) Fits(n int) bool { return n >= l.PrefixSize+l.MinerSize }

// PadSize is how many bytes of an n-byte upstream region the proxy fills itself.
func (l Layout) PadSize(n int) int { return n - l.PrefixSize - l.MinerSize }

// Capacity is how many miners one upstream channel can carry: 256^PrefixSize, saturating at
// math.MaxInt for an 8-byte prefix (2^64 does not fit an int; a plain shift gave 0).
func (l Layout) Capacity() int {
	if l.PrefixSize >= 8 {
		return math.MaxInt
	}
	return 1 << (8 * l.PrefixSize)
}

// ChooseLayout picks a layout for an upstream region of n bytes: prefixSize bytes of prefix
// and up to 4 bytes for the miner (at least MinMinerSize).
func ChooseLayout(n, prefixSize int) (Layout, error) {
	m := n - prefixSize
	if m > 4 {
		m = 4
	}
	l := Layout{PrefixSize: prefixSize, MinerSize: m}
	if m < MinMinerSize {
		return l, fmt.Errorf("%w: %d bytes, prefix %d", ErrLayoutDoesNotFit, n, prefixSize)
	}
	return l, l.Validate()
}

// Prefix encodes slot as a fixed-width big-endian prefix.
func (l Layout) Prefix(slot uint64) []byte {
	p := make([]byte, l.PrefixSize)
	for i := l.PrefixSize - 1; i >= 0; i-- {
		p[i] = byte(slot)
		slot >>= 8
	}
	return p
}

// UpstreamExtranonce2 appends prefix ‖ x ‖ zero padding up to n bytes to dst: the upstream
// extranonce2 for a miner's x. It checks x's length.
func (l Layout) UpstreamExtranonce2(dst, prefix, x []byte, n int) ([]byte, error) {
	if len(x) != l.MinerSize {
		return dst, ErrExtranonce2Size
	}
	if len(prefix) != l.PrefixSize || !l.Fits(n) {
		return dst, ErrLayoutDoesNotFit
	}
	dst = append(dst, prefix...)
	dst = append(dst, x...)
	for i := l.PadSize(n); i > 0; i-- {
		dst = append(dst, 0)
	}
	return dst, nil
}

// DownstreamCoinbase returns the coinb1 and coinb2 a miner under this layout is sent for j.
// They are shared by every miner on the same upstream channel.
func (l Layout) DownstreamCoinbase(j *Job) (coinb1, coinb2 []byte, err error) {
	if !l.Fits(j.Extranonce2Size) {
		return nil, nil, ErrLayoutDoesNotFit
	}
	coinb1 = append([]byte(nil), j.CoinbasePrefix()...)
	pad := l.PadSize(j.Extranonce2Size)
	coinb2 = make([]byte, pad, pad+len(j.Coinb2))
	coinb2 = append(coinb2, j.Coinb2...)
	return coinb1, coinb2, nil
}
