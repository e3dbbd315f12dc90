package pool

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// template is one block template: what every connection's jobs are cut from.
type template struct {
	height  uint32
	prev    [32]byte // header byte order
	coinb1  []byte   // up to the extranonce1
	coinb2  []byte   // after the extranonce2
	branch  [][32]byte
	version uint32
	nbits   uint32
}

// buildTemplate makes a realistic template: a version-1 coinbase with a BIP34 height push and
// a tag in its scriptSig, a P2WPKH payout and a segwit witness commitment, and a merkle branch
// of txs random txids.
func buildTemplate(rng *rand.Rand, height uint32, prev [32]byte, nbits uint32, en1Size, en2Size, txs int) *template {
	t := &template{height: height, prev: prev, version: 0x20000000, nbits: nbits}
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
	scriptLen := len(script) + en1Size + en2Size

	cb1 := make([]byte, 0, 64+len(script))
	cb1 = binary.LittleEndian.AppendUint32(cb1, 1) // tx version
	cb1 = append(cb1, 1)                           // one input
	cb1 = append(cb1, make([]byte, 32)...)         // null prevout hash
	cb1 = binary.LittleEndian.AppendUint32(cb1, 0xffffffff)
	cb1 = append(cb1, byte(scriptLen))
	cb1 = append(cb1, script...)
	t.coinb1 = cb1

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
	t.coinb2 = cb2

	for i := 0; i < txs; i++ {
		var h [32]byte
		for k := 0; k < 4; k++ {
			binary.LittleEndian.PutUint64(h[8*k:], rng.Uint64())
		}
		t.branch = append(t.branch, h)
	}
	return t
}
