package template

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// Template is one block template: what every connection's jobs are cut from.
type Template struct {
	Height uint32
	// Prev is the previous block hash in header byte order.
	Prev [32]byte
	// Coinb1 is the non-witness coinbase up to the extranonce, Coinb2 what follows it.
	Coinb1, Coinb2 []byte
	// Branch is the merkle branch, internal byte order.
	Branch  [][32]byte
	Version uint32
	NBits   uint32
}

// Build makes a template whose coinbase scriptSig leaves extranonceLen bytes for the
// extranonce, with a merkle branch of txs random txids drawn from rng.
func Build(rng *rand.Rand, height uint32, prev [32]byte, nbits uint32, extranonceLen, txs int) *Template {
	t := &Template{Height: height, Prev: prev, Version: 0x20000000, NBits: nbits}
	// scriptSig: BIP34 height push (minimal), tag, then the extranonce region.
	var heightPush []byte
	switch {
	case height <= 16 && height > 0:
		heightPush = []byte{0x50 + byte(height)} // OP_1..OP_16
	default:
		h := make([]byte, 0, 5)
		for v := height; v > 0; v >>= 8 {
			h = append(h, byte(v))
		}
		if h[len(h)-1]&0x80 != 0 {
			h = append(h, 0)
		}
		heightPush = append([]byte{byte(len(h))}, h...)
	}
	tag := []byte("/hashgate-sim/")
	script := append(append([]byte{}, heightPush...), byte(len(tag)))
	script = append(script, tag...)
	scriptLen := len(script) + extranonceLen

	cb1 := make([]byte, 0, 64+len(script))
	cb1 = binary.LittleEndian.AppendUint32(cb1, 1) // tx version
	cb1 = append(cb1, 1)                           // one input
	cb1 = append(cb1, make([]byte, 32)...)         // null prevout hash
	cb1 = binary.LittleEndian.AppendUint32(cb1, 0xffffffff)
	cb1 = append(cb1, byte(scriptLen))
	cb1 = append(cb1, script...)
	t.Coinb1 = cb1

	cb2 := binary.LittleEndian.AppendUint32(nil, 0xffffffff) // sequence
	cb2 = append(cb2, 2)                                     // two outputs
	cb2 = binary.LittleEndian.AppendUint64(cb2, 312500000)   // 3.125 BTC
	payout := sha256.Sum256([]byte("hashgate-sim payout"))
	cb2 = append(cb2, 22, 0x00, 0x14)
	cb2 = append(cb2, payout[:20]...)
	cb2 = binary.LittleEndian.AppendUint64(cb2, 0)
	commit := sha256.Sum256(binary.LittleEndian.AppendUint32(nil, height))
	cb2 = append(cb2, 38, 0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed)
	cb2 = append(cb2, commit[:]...)
	cb2 = binary.LittleEndian.AppendUint32(cb2, 0) // locktime
	t.Coinb2 = cb2

	for i := 0; i < txs; i++ {
		var h [32]byte
		for k := 0; k < 4; k++ {
			binary.LittleEndian.PutUint64(h[8*k:], rng.Uint64())
		}
		t.Branch = append(t.Branch, h)
	}
	return t
}

// WitnessHalves returns the coinbase halves in witness serialization: marker and flag after
// the version, and the one 32-byte witness reserved value before the locktime. Older SV2
// pools (and SRI's own vectors) send coinbases this way.
func (t *Template) WitnessHalves() (prefix, suffix []byte) {
	prefix = append(append(append([]byte(nil), t.Coinb1[:4]...), 0x00, 0x01), t.Coinb1[4:]...)
	n := len(t.Coinb2) - 4
	suffix = append([]byte(nil), t.Coinb2[:n]...)
	suffix = append(suffix, 0x01, 0x20)
	suffix = append(suffix, make([]byte, 32)...)
	suffix = append(suffix, t.Coinb2[n:]...)
	return prefix, suffix
}
