package noise

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ellswift"
)

// The BIP324 vectors pin the edge cases; these compare the fraction-based
// maps with btcd's direct transcription of the spec on random inputs, which
// reach every candidate and case many times over.

func randomBytes(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

func TestEllSwiftDecodeMatchesReference(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	candidates := map[int]int{}
	for i := range 3000 {
		enc := [EllSwiftSize]byte(randomBytes(r, EllSwiftSize))
		if i%50 == 0 {
			// u or t zero, and u or t at or above p: the spec's special cases.
			copy(enc[(i/50%2)*32:], bytes.Repeat([]byte{byte(0xff * (i / 100 % 2))}, 32))
		}
		got := decodeEllSwiftX(&enc)
		var u, tt btcec.FieldVal
		u.SetByteSlice(enc[:32])
		u.Normalize()
		tt.SetByteSlice(enc[32:])
		tt.Normalize()
		want, err := ellswift.XSwiftEC(&u, &tt)
		if err != nil {
			t.Fatalf("reference decode of %x: %v", enc, err)
		}
		if !got.Equals(want) {
			t.Fatalf("decode %x: %x, reference %x", enc, got.Bytes(), want.Bytes())
		}
		if !isValidX(&got) {
			t.Fatalf("decode %x: %x is not on the curve", enc, got.Bytes())
		}
		candidates[candidateIndex(&enc, &got)]++
	}
	for c := range 3 {
		if candidates[c] == 0 {
			t.Errorf("no input took candidate x%d: %v", c+1, candidates)
		}
	}
}

// candidateIndex says which of x1, x2, x3 the decode returned, so the test
// can show it exercised all three.
func candidateIndex(enc *[EllSwiftSize]byte, x *btcec.FieldVal) int {
	var u, t btcec.FieldVal
	u.SetByteSlice(enc[:32])
	u.Normalize()
	t.SetByteSlice(enc[32:])
	t.Normalize()
	if u.IsZero() {
		u.SetInt(1)
	}
	if t.IsZero() {
		t.SetInt(1)
	}
	var u2, g, s, gs btcec.FieldVal
	u2.SquareVal(&u)
	g.Mul2(&u2, &u).AddInt(7).Normalize()
	s.SquareVal(&t).Normalize()
	if gs.Add2(&g, &s).Normalize().IsZero() {
		s.MulInt(4).Normalize()
		gs.Add2(&g, &s).Normalize()
	}
	var n, d, gs2 btcec.FieldVal
	d.Mul2(&s, &u2).MulInt(3)
	n.Mul2(&d, &u)
	gs2.SquareVal(&gs).Negate(1)
	n.Add(&gs2)
	d.Inverse()
	if n.Mul(&d).Normalize().Equals(x) {
		return 0
	}
	var a, b, negS btcec.FieldVal
	negS.NegateVal(&s, 1)
	a.Add2(&g, &negS).Mul(&u).Mul(&sqrtMinus3)
	b.Mul2(&u, &gs).Negate(1)
	d.Set(&gs).MulInt(2).Inverse()
	n.NegateVal(&a, 1).Add(&b).Mul(&d).Normalize()
	if n.Equals(x) {
		return 1
	}
	return 2
}

func TestEllSwiftInverseMatchesReference(t *testing.T) {
	r := rand.NewChaCha8([32]byte{2})
	found := [8]int{}
	for range 300 {
		kp, err := NewKeyPair(r)
		if err != nil {
			t.Fatal(err)
		}
		var x btcec.FieldVal
		xb := kp.XOnly()
		x.SetBytes(&xb)
		for c := range 8 {
			var u btcec.FieldVal
			u.SetByteSlice(randomBytes(r, 32))
			u.Normalize()
			got, ok := xswiftecInv(&u, &x, c)
			want := ellswift.XSwiftECInv(&u, &x, c)
			if ok != (want != nil) {
				t.Fatalf("u %x x %x case %d: found %v, reference %v", u.Bytes(), xb, c, ok, want != nil)
			}
			if !ok {
				continue
			}
			found[c]++
			if !got.Equals(want) {
				t.Fatalf("u %x x %x case %d: t %x, reference %x", u.Bytes(), xb, c, got.Bytes(), want.Bytes())
			}
		}
		// The pair's own encoding decodes back to its key.
		if dx, _ := DecodeEllSwift(kp.EllSwift()); dx != xb {
			t.Fatalf("encoding of %x decodes to %x", xb, dx)
		}
	}
	for c, n := range found {
		if n == 0 {
			t.Errorf("case %d never had a preimage in 300 tries", c)
		}
	}
}

func TestECDHMatchesReference(t *testing.T) {
	r := rand.NewChaCha8([32]byte{3})
	for i := range 200 {
		a, err := NewKeyPair(r)
		if err != nil {
			t.Fatal(err)
		}
		theirs := [EllSwiftSize]byte(randomBytes(r, EllSwiftSize))
		if i%2 == 1 {
			b, err := NewKeyPair(r)
			if err != nil {
				t.Fatal(err)
			}
			theirs = b.EllSwift()
		}
		initiator := i%4 < 2
		got, err := ecdh(a, theirs, initiator)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ellswift.V2Ecdh(a.priv, theirs, a.EllSwift(), initiator)
		if err != nil {
			t.Fatal(err)
		}
		if got != *want {
			t.Fatalf("ecdh %d: %x, reference %x", i, got, *want)
		}
	}
}

// TestResponderSharedDecodeMatchesInitiator checks the responder's batched
// path (one decode, one inversion for both ECDHs) against the initiator's
// separate ones: a full handshake with random keys must agree on the keys.
func TestResponderSharedDecodeMatchesInitiator(t *testing.T) {
	ident := testIdentity(t)
	for range 50 {
		ini, err := NewInitiator(ident.authority.PublicKey(), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		res, err := NewResponder(ident.static, ident.cert, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		act1, err := ini.Act1()
		if err != nil {
			t.Fatal(err)
		}
		if err := res.ReadAct1(act1[:]); err != nil {
			t.Fatal(err)
		}
		act2, rs, err := res.Act2()
		if err != nil {
			t.Fatal(err)
		}
		is, err := ini.ReadAct2(act2[:])
		if err != nil {
			t.Fatal(err)
		}
		if is.HandshakeHash() != rs.HandshakeHash() {
			t.Fatal("handshake hashes differ")
		}
	}
}
