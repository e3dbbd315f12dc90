package work

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// These fuzz targets hold the share path (coinbase assembly, merkle root, header, hash and the
// three target comparisons), version rolling and the extranonce layout to independent
// computations: btcd's wire, chainhash and blockchain packages where btcd has the function, a
// bit-by-bit or big.Int formula where it has not. Their seed corpora in testdata/fuzz are the
// real vectors of testdata/sv1 (see testdata/README.md beside this file).

// FuzzShareJudge rebuilds a share the way the proxy's share judge does (the miner's extranonce2
// under a layout, the coinbase, the merkle fold, the header, its hash) and compares every step
// and the verdict under the miner's, the pool's and the network's target with btcd.
//
// With synth set, btcd builds the coinbase transaction itself (coinb1 and coinb2 become the
// script around the extranonce) and the job's coinbase halves are cut from btcd's serialization;
// otherwise coinb1 and coinb2 are used as a pool sends them. extraTxs > 0 puts the coinbase in
// a block of that many more transactions whose merkle tree btcd builds; otherwise the branch
// is the fuzzed one, folded by btcd's HashMerkleBranches.
func FuzzShareJudge(f *testing.F) {
	f.Fuzz(func(t *testing.T, coinb1, en1, coinb2 []byte, synth bool, prefixSize, minerSize, pad uint8,
		slot uint64, x, branch []byte, extraTxs uint8, prev []byte, version, vbits, mask, nbits, ntime, nonce uint32,
		minerTarget []byte, delta int64, poolDiff float64) {
		if len(coinb1)+len(en1)+len(coinb2) > 16<<10 {
			return // the 1 MiB cap is Prepare's; past a few KiB the fuzzer only slows down
		}
		l := Layout{PrefixSize: int(prefixSize % 9), MinerSize: MinMinerSize + int(minerSize%7)}
		if err := l.Validate(); err != nil {
			t.Fatalf("layout %+v: %v", l, err)
		}
		n := l.PrefixSize + l.MinerSize + int(pad%17)
		xm := make([]byte, l.MinerSize)
		copy(xm, x)

		// The upstream extranonce2, laid out by hand: big-endian slot, the miner's bytes, zeros.
		var be [8]byte
		binary.BigEndian.PutUint64(be[:], slot)
		wantUp := append(append(append([]byte{}, be[8-l.PrefixSize:]...), xm...), make([]byte, n-l.PrefixSize-l.MinerSize)...)
		prefix := l.Prefix(slot)
		up, err := l.UpstreamExtranonce2(nil, prefix, xm, n)
		if err != nil || !bytes.Equal(up, wantUp) {
			t.Fatalf("upstream extranonce2 %x, %v; want %x", up, err, wantUp)
		}

		// The coinbase: btcd's serialization (synth) or the pool's halves as given.
		var cbTx *wire.MsgTx
		if synth {
			cbTx = coinbaseTx(coinb1, en1, up, coinb2, nonce)
			full := serializeNoWitness(t, cbTx)
			cut := 4 + 1 + 36 + wire.VarIntSerializeSize(uint64(len(cbTx.TxIn[0].SignatureScript))) + len(coinb1)
			coinb1 = full[:cut]
			coinb2 = full[cut+len(en1)+n:]
		}
		wantCB := append(append(append(append([]byte{}, coinb1...), en1...), up...), coinb2...)
		if synth {
			if got := serializeNoWitness(t, cbTx); !bytes.Equal(got, wantCB) {
				t.Fatalf("btcd coinbase\n%x\nvs halves\n%x", got, wantCB)
			}
		} else {
			var tx wire.MsgTx
			r := bytes.NewReader(wantCB)
			if tx.DeserializeNoWitness(r) == nil && r.Len() == 0 && bytes.Equal(serializeNoWitness(t, &tx), wantCB) {
				cbTx = &tx
			}
		}
		wantTxid := chainhash.DoubleHashH(wantCB)
		if cbTx != nil && cbTx.TxHash() != wantTxid {
			t.Fatalf("btcd txid %v, double SHA-256 %v", cbTx.TxHash(), wantTxid)
		}

		// The merkle branch and the root btcd expects.
		var br [][32]byte
		var wantRoot chainhash.Hash
		if cbTx != nil && extraTxs > 0 {
			br, wantRoot = btcdBranch(t, cbTx, int(extraTxs%24), prev)
		} else {
			for i := 0; i+32 <= len(branch); i += 32 {
				br = append(br, [32]byte(branch[i:i+32]))
			}
			wantRoot = wantTxid
			for i := range br {
				h := chainhash.Hash(br[i])
				wantRoot = blockchain.HashMerkleBranches(&wantRoot, &h)
			}
		}

		var pt Target
		poolOK := true
		pt, err = TargetFromDifficulty(poolDiff)
		if err != nil {
			if poolDiff > 0 && !math.IsInf(poolDiff, 0) {
				t.Fatalf("difficulty %v rejected: %v", poolDiff, err)
			}
			poolOK = false
		} else {
			checkDifficultyTarget(t, poolDiff, pt)
		}
		j := &Job{
			ID: "fuzz", Coinb1: coinb1, Coinb2: coinb2, Extranonce1: en1, Extranonce2Size: n, Branch: br,
			Version: version, VersionMask: mask, NBits: nbits, NTime: ntime, Target: pt,
		}
		copy(j.PrevHash[:], prev)
		if err := j.Prepare(); err != nil {
			if len(br) <= 32 {
				t.Fatalf("prepare: %v", err)
			}
			return
		}
		if len(br) > 32 {
			t.Fatal("a branch longer than 32 was prepared")
		}
		if j.CoinbaseSize() != len(wantCB) {
			t.Fatalf("coinbase size %d, want %d", j.CoinbaseSize(), len(wantCB))
		}
		// What the miner is sent rebuilds the same coinbase from its own prefix and bytes.
		cb1, cb2, err := l.DownstreamCoinbase(j)
		if err != nil {
			t.Fatal(err)
		}
		if mine := append(append(append(cb1, prefix...), xm...), cb2...); !bytes.Equal(mine, wantCB) {
			t.Fatalf("miner's coinbase\n%x\nwant\n%x", mine, wantCB)
		}

		v := version
		if mv, err := MergeVersion(version, vbits, mask); err == nil {
			v = mv
		}
		if err := j.CheckNTime(ntime); err != nil {
			t.Fatalf("the job's own ntime: %v", err)
		}
		var hs Hasher
		hd := Header{Extranonce2: up, NTime: ntime, Nonce: nonce, Version: v}
		hash, header, err := hs.Hash(j, &hd)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hs.buf, wantCB) {
			t.Fatalf("hashed coinbase\n%x\nwant\n%x", hs.buf, wantCB)
		}
		if again, _, _ := hs.Hash(j, &hd); again != hash {
			t.Fatalf("cached root changed the hash: %x then %x", hash, again)
		}

		bh := wire.BlockHeader{
			Version: int32(v), PrevBlock: chainhash.Hash(j.PrevHash), MerkleRoot: wantRoot,
			Timestamp: time.Unix(int64(ntime), 0), Bits: nbits, Nonce: nonce,
		}
		var hb bytes.Buffer
		if err := bh.Serialize(&hb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hb.Bytes(), header[:]) {
			t.Fatalf("header\n ours %x\nbtcd %x", header, hb.Bytes())
		}
		if bh.BlockHash() != chainhash.Hash(hash) {
			t.Fatalf("hash %x, btcd %v", hash, bh.BlockHash())
		}

		// The three verdicts.
		hashInt := blockchain.HashToBig((*chainhash.Hash)(&hash))
		netInt := blockchain.CompactToBig(nbits)
		netValid := netInt.Sign() > 0 && netInt.BitLen() <= 256
		if nt := j.NetworkTarget(); netValid && nt.Int().Cmp(netInt) != 0 || !netValid && nt.Int().Sign() != 0 {
			t.Fatalf("nbits %08x: target %s, btcd %x", nbits, nt, netInt)
		}
		if got, want := j.NetworkTarget().Met(&hash), netValid && hashInt.Cmp(netInt) <= 0; got != want {
			t.Fatalf("block candidate = %v, btcd says %v (nbits %08x, hash %x)", got, want, nbits, hash)
		}
		mt := minerTargetFor(hashInt, minerTarget, delta)
		if got, want := mt.Met(&hash), hashInt.Cmp(mt.Int()) <= 0; got != want {
			t.Fatalf("miner target %s: met = %v, want %v (hash %x)", mt, got, want, hashInt)
		}
		if poolOK {
			if got, want := j.Target.Met(&hash), hashInt.Cmp(j.Target.Int()) <= 0; got != want {
				t.Fatalf("pool target %s: met = %v, want %v", j.Target, got, want)
			}
		}
		exact := HashDifficulty(&hash)
		if fast := HashDifficultyFast(&hash); math.Abs(fast-exact) > 1e-14*exact {
			t.Fatalf("share difficulty %v, fast %v", exact, fast)
		}
	})
}

// coinbaseTx is a coinbase transaction as a pool builds one: a null outpoint, a scriptSig of
// script1 ‖ extranonce1 ‖ extranonce2 ‖ script2 and one output.
func coinbaseTx(script1, en1, en2, script2 []byte, value uint32) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	sig := append(append(append(append([]byte{}, script1...), en1...), en2...), script2...)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex), sig, nil))
	tx.AddTxOut(wire.NewTxOut(int64(value), []byte{0x51}))
	return tx
}

func serializeNoWitness(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.SerializeNoWitness(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// btcdBranch puts cb first in a block of more transactions, lets btcd build the merkle tree
// and returns the coinbase's branch (the left-most node's sibling on each level, as a pool
// sends it) and the root. It also checks btcd's two root computations agree.
func btcdBranch(t *testing.T, cb *wire.MsgTx, more int, seed []byte) ([][32]byte, chainhash.Hash) {
	t.Helper()
	txs := []*btcutil.Tx{btcutil.NewTx(cb)}
	for i := 0; i < more; i++ {
		tx := wire.NewMsgTx(1)
		src := chainhash.DoubleHashH(append(append([]byte{}, seed...), byte(i)))
		tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&src, uint32(i)), nil, nil))
		tx.AddTxOut(wire.NewTxOut(int64(i), []byte{0x51}))
		txs = append(txs, btcutil.NewTx(tx))
	}
	store := blockchain.BuildMerkleTreeStore(txs, false)
	root := *store[len(store)-1]
	if calc := blockchain.CalcMerkleRoot(txs, false); calc != root {
		t.Fatalf("btcd roots differ: %v %v", calc, root)
	}
	var br [][32]byte
	for off, width := 0, (len(store)+1)/2; width > 1; off, width = off+width, width/2 {
		br = append(br, [32]byte(*store[off+1]))
	}
	return br, root
}

// minerTargetFor is the fuzzed target when 32 bytes are given, else the hash moved by delta
// (clamped to 0..2^256-1), so the equality boundary is reached.
func minerTargetFor(hash *big.Int, given []byte, delta int64) Target {
	var mt Target
	if len(given) >= 32 {
		copy(mt[:], given)
		return mt
	}
	v := new(big.Int).Add(hash, big.NewInt(delta))
	switch {
	case v.Sign() < 0:
		v.SetInt64(0)
	case v.Cmp(maxTarget) > 0:
		v.Set(maxTarget)
	}
	v.FillBytes(mt[:])
	return mt
}

// checkDifficultyTarget checks t is floor(diff1 / d) for d's shortest decimal text by
// multiplying back: t·d <= diff1 < (t+1)·d, or t saturated at 2^256-1.
func checkDifficultyTarget(t *testing.T, d float64, tg Target) {
	t.Helper()
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(d, 'g', -1, 64))
	if !ok {
		t.Fatalf("difficulty %v has no decimal text", d)
	}
	ti := tg.Int()
	lhs := new(big.Rat).Mul(new(big.Rat).SetInt(ti), r)
	d1 := new(big.Rat).SetInt(diff1)
	if lhs.Cmp(d1) > 0 {
		t.Fatalf("difficulty %v: target %s too easy", d, tg)
	}
	if ti.Cmp(maxTarget) == 0 {
		return
	}
	next := new(big.Rat).Mul(new(big.Rat).SetInt(new(big.Int).Add(ti, big.NewInt(1))), r)
	if next.Cmp(d1) <= 0 {
		t.Fatalf("difficulty %v: target %s too hard", d, tg)
	}
}

// FuzzMergeVersion holds BIP310 version rolling to its definition, bit by bit: inside the mask
// every bit is the miner's, outside it the job's; a submission is accepted when its bits outside
// the mask are all zero (the rolled bits alone or an XOR delta) or all equal to the job's (the
// full version), and for no other reason.
func FuzzMergeVersion(f *testing.F) {
	f.Fuzz(func(t *testing.T, job, bits, mask uint32) {
		got, err := MergeVersion(job, bits, mask)
		allZero, allJob := true, true
		var want uint32
		for i := 0; i < 32; i++ {
			b := uint32(1) << i
			if mask&b != 0 {
				want |= bits & b
				continue
			}
			want |= job & b
			if bits&b != 0 {
				allZero = false
			}
			if bits&b != job&b {
				allJob = false
			}
		}
		if ok := allZero || allJob; ok != (err == nil) {
			t.Fatalf("MergeVersion(%08x, %08x, %08x) err = %v, want accepted = %v", job, bits, mask, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrVersionBits) || got != 0 {
				t.Fatalf("rejection returned %08x, %v", got, err)
			}
			return
		}
		if got != want {
			t.Fatalf("MergeVersion(%08x, %08x, %08x) = %08x, want %08x", job, bits, mask, got, want)
		}
		// The forms a miner may send for the same rolled version agree: the rolled bits alone,
		// the full version, and (for a job with no bits inside the mask) the XOR delta.
		forms := []uint32{got & mask, got}
		if job&mask == 0 {
			forms = append(forms, got^job)
		}
		for _, form := range forms {
			if v, err := MergeVersion(job, form, mask); err != nil || v != got {
				t.Fatalf("form %08x of %08x (job %08x, mask %08x) gives %08x, %v", form, got, job, mask, v, err)
			}
		}
	})
}

// FuzzExtranonceLayout holds the extranonce layout to what it promises: sizes add up to the
// upstream region, the upstream extranonce2 is prefix ‖ miner bytes ‖ zeros and can be read
// back, no two (slot, miner bytes) pairs within the prefix space give the same bytes, the coinbase a
// miner builds equals the one sent upstream, and wrong sizes are refused without writing.
func FuzzExtranonceLayout(f *testing.F) {
	f.Fuzz(func(t *testing.T, prefixSize, minerSize, pad, upN uint8, slotA, slotB uint64, xA, xB []byte) {
		// ChooseLayout over any region and prefix width.
		cn, cp := int(upN%40), int(prefixSize%10)
		if cl, err := ChooseLayout(cn, cp); err == nil {
			if cl.Validate() != nil || cl.PrefixSize != cp || cl.MinerSize != min(cn-cp, 4) || !cl.Fits(cn) ||
				cl.PrefixSize+cl.MinerSize+cl.PadSize(cn) != cn || cl.PadSize(cn) < 0 {
				t.Fatalf("ChooseLayout(%d, %d) = %+v", cn, cp, cl)
			}
		} else if cn-cp >= MinMinerSize && cp <= 8 {
			t.Fatalf("ChooseLayout(%d, %d) refused: %v", cn, cp, err)
		} else if cn-cp < MinMinerSize && !errors.Is(err, ErrLayoutDoesNotFit) {
			t.Fatalf("ChooseLayout(%d, %d): %v, want ErrLayoutDoesNotFit", cn, cp, err)
		}

		l := Layout{PrefixSize: int(prefixSize % 9), MinerSize: MinMinerSize + int(minerSize%7)}
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		n := l.PrefixSize + l.MinerSize + int(pad%17)
		space := uint64(1) << (8 * l.PrefixSize) // 0 means all 2^64 slots
		if c := l.Capacity(); c < 1 || space != 0 && uint64(c) != space || space == 0 && c != math.MaxInt {
			t.Fatalf("capacity %d for a %d-byte prefix", c, l.PrefixSize)
		}
		inSpace := func(s uint64) uint64 {
			if space == 0 {
				return s
			}
			return s % space
		}
		pa, pb := l.Prefix(slotA), l.Prefix(slotB)
		if len(pa) != l.PrefixSize || bytes.Equal(pa, pb) != (inSpace(slotA) == inSpace(slotB)) {
			t.Fatalf("prefixes %x (slot %d), %x (slot %d)", pa, slotA, pb, slotB)
		}
		xa, xb := make([]byte, l.MinerSize), make([]byte, l.MinerSize)
		copy(xa, xA)
		copy(xb, xB)

		dst := []byte{0xde, 0xad}
		ua, err := l.UpstreamExtranonce2(dst, pa, xa, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(ua) != len(dst)+n || !bytes.Equal(ua[:2], dst) {
			t.Fatalf("upstream extranonce2 %x for %d bytes after %x", ua, n, dst)
		}
		ua = ua[2:]
		var slotBack uint64
		for _, b := range ua[:l.PrefixSize] {
			slotBack = slotBack<<8 | uint64(b)
		}
		if slotBack != inSpace(slotA) || !bytes.Equal(ua[l.PrefixSize:l.PrefixSize+l.MinerSize], xa) ||
			!bytes.Equal(ua[l.PrefixSize+l.MinerSize:], make([]byte, l.PadSize(n))) {
			t.Fatalf("upstream extranonce2 %x does not read back as slot %d, %x", ua, slotA, xa)
		}
		ub, err := l.UpstreamExtranonce2(nil, pb, xb, n)
		if err != nil {
			t.Fatal(err)
		}
		if same := inSpace(slotA) == inSpace(slotB) && bytes.Equal(xa, xb); bytes.Equal(ua, ub) != same {
			t.Fatalf("slots %d/%d with %x/%x give %x and %x", slotA, slotB, xa, xb, ua, ub)
		}

		// The coinbase the miner builds from what it is sent is the one hashed upstream (any
		// bytes do for the pool's coinbase halves and extranonce1).
		j := &Job{Coinb1: xB, Extranonce1: xA, Coinb2: pb, Extranonce2Size: n}
		if err := j.Prepare(); err != nil {
			t.Fatal(err)
		}
		cb1, cb2, err := l.DownstreamCoinbase(j)
		if err != nil {
			t.Fatal(err)
		}
		mine := append(append(append(cb1, pa...), xa...), cb2...)
		upside := append(append(append(append([]byte{}, xB...), xA...), ua...), pb...)
		if !bytes.Equal(mine, upside) || len(mine) != j.CoinbaseSize() {
			t.Fatalf("miner's coinbase %x, upstream %x (size %d)", mine, upside, j.CoinbaseSize())
		}

		// Wrong sizes are refused and dst comes back as it was.
		if out, err := l.UpstreamExtranonce2(dst, pa, append(xa, 0), n); !errors.Is(err, ErrExtranonce2Size) || !bytes.Equal(out, dst) {
			t.Fatalf("long miner extranonce2: %x, %v", out, err)
		}
		if out, err := l.UpstreamExtranonce2(dst, append(pa, 0), xa, n); !errors.Is(err, ErrLayoutDoesNotFit) || !bytes.Equal(out, dst) {
			t.Fatalf("long prefix: %x, %v", out, err)
		}
		small := l.PrefixSize + l.MinerSize - 1
		if out, err := l.UpstreamExtranonce2(dst, pa, xa, small); !errors.Is(err, ErrLayoutDoesNotFit) || !bytes.Equal(out, dst) {
			t.Fatalf("region of %d bytes: %x, %v", small, out, err)
		}
		j.Extranonce2Size = small
		if _, _, err := l.DownstreamCoinbase(j); !errors.Is(err, ErrLayoutDoesNotFit) {
			t.Fatalf("downstream coinbase for a %d-byte region: %v", small, err)
		}
	})
}
