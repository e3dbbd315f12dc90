package work

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"math/big"
	"testing"
)

func TestMergeVersion(t *testing.T) {
	const mask = 0x1fffe000
	cases := []struct {
		name            string
		job, bits, want uint32
		err             error
	}{
		{"bits only", 0x20000000, 0x00002000, 0x20002000, nil},
		{"xor delta", 0x20000004, 0x1fffe000, 0x3fffe004, nil},
		{"full version form", 0x20000000, 0x20c00000, 0x20c00000, nil},
		{"zero means none", 0x20000004, 0, 0x20000004, nil},
		{"bits outside mask", 0x20000000, 0x00000001, 0, ErrVersionBits},
		{"full version with other high bits", 0x20000000, 0x40002000, 0, ErrVersionBits},
	}
	for _, c := range cases {
		got, err := MergeVersion(c.job, c.bits, mask)
		if !errors.Is(err, c.err) || (err == nil && got != c.want) {
			t.Errorf("%s: MergeVersion(%08x,%08x) = %08x, %v; want %08x, %v", c.name, c.job, c.bits, got, err, c.want, c.err)
		}
	}
}

func TestTargetMetBoundaries(t *testing.T) {
	tg := MustTarget(1)
	// A hash equal to the target meets it; one more does not.
	var h [32]byte
	be := tg
	for i := range h {
		h[i] = be[31-i]
	}
	if !tg.Met(&h) {
		t.Fatal("hash == target must meet it")
	}
	n := new(big.Int).Add(tg.Int(), big.NewInt(1))
	var plus Target
	n.FillBytes(plus[:])
	for i := range h {
		h[i] = plus[31-i]
	}
	if tg.Met(&h) {
		t.Fatal("hash == target+1 must not meet it")
	}
	if !MustTarget(2).Harder(tg) || tg.Harder(MustTarget(2)) || tg.Harder(tg) {
		t.Fatal("Harder ordering wrong")
	}
}

func TestTargetFromDifficultyRejects(t *testing.T) {
	for _, d := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := TargetFromDifficulty(d); !errors.Is(err, ErrBadDifficulty) {
			t.Errorf("difficulty %v: err %v", d, err)
		}
	}
	// Tiny difficulties saturate rather than overflow.
	tg, err := TargetFromDifficulty(1e-30)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range tg {
		if b != 0xff {
			t.Fatalf("want saturated target, got %s", tg)
		}
	}
}

func TestTargetFromNBitsEdges(t *testing.T) {
	if (TargetFromNBits(0x01003456) != Target{}) {
		t.Error("exponent 1 should shift the mantissa out")
	}
	if (TargetFromNBits(0x04923456) != Target{}) {
		t.Error("sign bit set must give the zero target")
	}
	if (TargetFromNBits(0xff123456) != Target{}) {
		t.Error("overflow must give the zero target")
	}
	if got := TargetFromNBits(0x207fffff).String(); got != "7fffff0000000000000000000000000000000000000000000000000000000000" {
		t.Errorf("regtest target %s", got)
	}
}

func TestLayout(t *testing.T) {
	l, err := ChooseLayout(8, 2)
	if err != nil || l.MinerSize != 4 || l.PadSize(8) != 2 {
		t.Fatalf("ChooseLayout(8,2) = %+v, %v", l, err)
	}
	if _, err := ChooseLayout(3, 2); !errors.Is(err, ErrLayoutDoesNotFit) {
		t.Fatalf("ChooseLayout(3,2) err = %v", err)
	}
	if !bytes.Equal(l.Prefix(0x0102), []byte{1, 2}) || l.Capacity() != 65536 {
		t.Fatal("prefix encoding")
	}
	up, err := l.UpstreamExtranonce2(nil, []byte{1, 2}, []byte{3, 4, 5, 6}, 8)
	if err != nil || !bytes.Equal(up, []byte{1, 2, 3, 4, 5, 6, 0, 0}) {
		t.Fatalf("upstream en2 %x %v", up, err)
	}
	if _, err := l.UpstreamExtranonce2(nil, []byte{1, 2}, []byte{3, 4, 5}, 8); !errors.Is(err, ErrExtranonce2Size) {
		t.Fatalf("short x: %v", err)
	}
	// A failover pool with a larger region pads; the miner's own bytes stay where they were.
	j := &Job{Coinb1: []byte{0xaa}, Extranonce1: []byte{0xbb}, Coinb2: []byte{0xcc}, Extranonce2Size: 8}
	if err := j.Prepare(); err != nil {
		t.Fatal(err)
	}
	cb1, cb2, err := l.DownstreamCoinbase(j)
	if err != nil || !bytes.Equal(cb1, []byte{0xaa, 0xbb}) || !bytes.Equal(cb2, []byte{0, 0, 0xcc}) {
		t.Fatalf("downstream coinbase %x %x %v", cb1, cb2, err)
	}
	j.Extranonce2Size = 5
	if _, _, err := l.DownstreamCoinbase(j); !errors.Is(err, ErrLayoutDoesNotFit) {
		t.Fatalf("too small region: %v", err)
	}
}

func TestHashRejectsWrongExtranonce2(t *testing.T) {
	j := &Job{Coinb1: []byte{1}, Coinb2: []byte{2}, Extranonce2Size: 4}
	var hs Hasher
	if _, _, err := hs.Hash(j, &Header{Extranonce2: make([]byte, 4)}); !errors.Is(err, ErrNotPrepared) {
		t.Fatalf("unprepared: %v", err)
	}
	if err := j.Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hs.Hash(j, &Header{Extranonce2: make([]byte, 3)}); !errors.Is(err, ErrExtranonce2Size) {
		t.Fatalf("short: %v", err)
	}
}

func TestCheckNTime(t *testing.T) {
	j := &Job{NTime: 1000}
	for _, c := range []struct {
		n  uint32
		ok bool
	}{{1000, true}, {999, false}, {1000 + MaxNTimeRoll, true}, {1001 + MaxNTimeRoll, false}} {
		if err := j.CheckNTime(c.n); (err == nil) != c.ok {
			t.Errorf("ntime %d: %v", c.n, err)
		}
	}
}

func FuzzTargetDifficultyRoundTrip(f *testing.F) {
	for _, d := range []float64{1, 0.5, 16383.75, 9427.960695338843, 1e12, 0.001} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d float64) {
		tg, err := TargetFromDifficulty(d)
		if err != nil {
			if d > 0 && !math.IsInf(d, 0) {
				t.Fatalf("valid difficulty %v rejected: %v", d, err)
			}
			return
		}
		if d < 1e-9 || d > 1e60 {
			return
		}
		if back := tg.Difficulty(); math.Abs(back-d) > 1e-9*d {
			t.Fatalf("difficulty %v -> %s -> %v", d, tg, back)
		}
	})
}

// benchJob is a job with a 12-hash merkle branch and a ~250-byte coinbase, the shape the share
// path benchmark targets (<= 2 µs and <= 2 allocations per share).
func benchJob() *Job {
	j := &Job{
		Coinb1:          bytes.Repeat([]byte{0x01}, 100),
		Coinb2:          bytes.Repeat([]byte{0x02}, 140),
		Extranonce1:     []byte{1, 2, 3, 4},
		Extranonce2Size: 4,
		Version:         0x20000000,
		NBits:           0x1705ae3a,
		NTime:           0x647025b5,
	}
	for i := 0; i < 12; i++ {
		var b [32]byte
		b[0] = byte(i)
		j.Branch = append(j.Branch, b)
	}
	if err := j.Prepare(); err != nil {
		panic(err)
	}
	return j
}

// BenchmarkShareHash12 is the worst case: every share has a new extranonce2, so the coinbase
// and the 12-hash merkle fold are rebuilt each time.
func BenchmarkShareHash12(b *testing.B) {
	j := benchJob()
	tg := MustTarget(1024)
	var hs Hasher
	h := Header{Extranonce2: []byte{0, 0, 0, 0}, NTime: j.NTime, Version: j.Version}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Nonce = uint32(i)
		h.Extranonce2[0], h.Extranonce2[1] = byte(i), byte(i>>8)
		hash, _, err := hs.Hash(j, &h)
		if err != nil {
			b.Fatal(err)
		}
		_ = tg.Met(&hash)
		_ = HashDifficultyFast(&hash)
	}
}

// BenchmarkShareHash12SameExtranonce2 is the common case: shares rolling nonce and version
// under one extranonce2 reuse the merkle root.
func BenchmarkShareHash12SameExtranonce2(b *testing.B) {
	j := benchJob()
	tg := MustTarget(1024)
	var hs Hasher
	h := Header{Extranonce2: []byte{0, 0, 0, 0}, NTime: j.NTime, Version: j.Version}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Nonce = uint32(i)
		hash, _, err := hs.Hash(j, &h)
		if err != nil {
			b.Fatal(err)
		}
		_ = tg.Met(&hash)
	}
}

// TestHasherRootCache: a cached root must equal a fresh computation, and a new extranonce2 or
// job must not reuse it.
func TestHasherRootCache(t *testing.T) {
	j, k := benchJob(), benchJob()
	k.Coinb2 = append([]byte{0x03}, k.Coinb2[1:]...)
	if err := k.Prepare(); err != nil {
		t.Fatal(err)
	}
	var cached Hasher
	for i, c := range []struct {
		j   *Job
		en2 []byte
	}{{j, []byte{1, 0, 0, 0}}, {j, []byte{1, 0, 0, 0}}, {j, []byte{2, 0, 0, 0}}, {k, []byte{2, 0, 0, 0}}, {j, []byte{2, 0, 0, 0}}} {
		h := Header{Extranonce2: c.en2, Nonce: uint32(i), NTime: c.j.NTime, Version: c.j.Version}
		got, _, err := cached.Hash(c.j, &h)
		if err != nil {
			t.Fatal(err)
		}
		var fresh Hasher
		want, _, _ := fresh.Hash(c.j, &h)
		if got != want {
			t.Fatalf("case %d: cached hash %x, fresh %x", i, got, want)
		}
	}
}

// BenchmarkSHA256Of32Bytes is the unit the share path is made of: one SHA-256 of 32 bytes is
// one block compression plus finalisation (the second half of every double SHA-256). Run with
// GODEBUG=cpu.sha=off to see the cost without SHA-NI.
func BenchmarkSHA256Of32Bytes(b *testing.B) {
	var x [32]byte
	for b.Loop() {
		x = sha256.Sum256(x[:])
	}
}
