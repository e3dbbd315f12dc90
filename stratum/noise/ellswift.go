package noise

import (
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
)

// ElligatorSwift (BIP324) on btcec's field arithmetic. In this field an
// exponentiation (square root, square test, inverse) costs ~10 µs, as much
// as a hundred multiplications, so these functions work in fractions and
// spend as few of them as the maps allow: the server's share of a handshake
// is one encode, one decode and two scalar multiplications.

var (
	// sqrtMinus3 is the square root of -3 that BIP324 calls c; the other
	// root would swap the decode's second and third candidates.
	sqrtMinus3 btcec.FieldVal
	// fieldHalf is 1/2 mod p.
	fieldHalf btcec.FieldVal
	// encOneMinusC and encOnePlusC are (1-c)/2 and (1+c)/2 for the encoder.
	encOneMinusC, encOnePlusC btcec.FieldVal
	// ecdhTagHash is SHA256("bip324_ellswift_xonly_ecdh"), the BIP340
	// tagged-hash prefix of the shared secret.
	ecdhTagHash = sha256.Sum256([]byte("bip324_ellswift_xonly_ecdh"))
)

func init() {
	sqrtMinus3.SetByteSlice([]byte{
		0x0a, 0x2d, 0x2b, 0xa9, 0x35, 0x07, 0xf1, 0xdf,
		0x23, 0x37, 0x70, 0xc2, 0xa7, 0x97, 0x96, 0x2c,
		0xc6, 0x1f, 0x6d, 0x15, 0xda, 0x14, 0xec, 0xd4,
		0x7d, 0x8d, 0x27, 0xae, 0x1c, 0xd5, 0xf8, 0x52,
	})
	fieldHalf.SetInt(2).Inverse().Normalize()
	var negC btcec.FieldVal
	negC.NegateVal(&sqrtMinus3, 1)
	encOneMinusC.SetInt(1).Add(&negC).Mul(&fieldHalf).Normalize()
	encOnePlusC.SetInt(1).Add(&sqrtMinus3).Mul(&fieldHalf).Normalize()
}

// isSquare reports whether v is a square mod p (zero included). v is
// normalized in place.
func isSquare(v *btcec.FieldVal) bool {
	var r btcec.FieldVal
	return r.SquareRootVal(v)
}

// fracIsValidX reports whether n/d is the x coordinate of a curve point:
// x³+7 = (n³+7d³)/d³ is a square exactly when (n³+7d³)·d is, which needs
// no inversion. n and d have magnitude at most 8; d is not zero.
func fracIsValidX(n, d *btcec.FieldVal) bool {
	var n3, d3, v btcec.FieldVal
	n3.SquareVal(n).Mul(n)
	d3.SquareVal(d).Mul(d).MulInt(7)
	v.Add2(&n3, &d3).Mul(d)
	return isSquare(&v)
}

// isValidX reports whether x (magnitude at most 8) is a curve point's x.
func isValidX(x *btcec.FieldVal) bool {
	var v btcec.FieldVal
	v.SquareVal(x).Mul(x).AddInt(7)
	return isSquare(&v)
}

// decodeEllSwiftX is BIP324 xswiftec(u, t): the x coordinate a 64-byte
// encoding maps to. Every input decodes. With s = t² and g = u³+7 the three
// candidates are
//
//	x1 = (3su³ - (g+s)²) / (3su²)
//	x2 = (-cu(g-s) - u(g+s)) / (2(g+s))
//	x3 = ( cu(g-s) - u(g+s)) / (2(g+s))
//
// (X/Y = cu(g-s)/(g+s) and 4Y² = -(g+s)²/(3su²) in the spec's names), so it
// costs at most two square tests and one inversion. The result is
// normalized.
func decodeEllSwiftX(enc *[EllSwiftSize]byte) btcec.FieldVal {
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
		// u³ + t² + 7 = 0: the spec doubles t, so s becomes 4t².
		s.MulInt(4).Normalize()
		gs.Add2(&g, &s).Normalize()
	}

	var n, d, gs2 btcec.FieldVal
	d.Mul2(&s, &u2).MulInt(3)    // 3su², magnitude 3
	n.Mul2(&d, &u)               // 3su³
	gs2.SquareVal(&gs).Negate(1) // -(g+s)², magnitude 2
	n.Add(&gs2)                  // magnitude 3
	if !fracIsValidX(&n, &d) {
		var a, b, negS btcec.FieldVal
		negS.NegateVal(&s, 1)
		a.Add2(&g, &negS).Mul(&u).Mul(&sqrtMinus3) // cu(g-s)
		b.Mul2(&u, &gs).Negate(1)                  // -u(g+s), magnitude 2
		d.Set(&gs).MulInt(2)                       // 2(g+s)
		n.NegateVal(&a, 1).Add(&b)                 // x2's numerator, magnitude 4
		if !fracIsValidX(&n, &d) {
			// The spec proves that x3 is valid when x1 and x2 are not.
			n.Set(&a).Add(&b)
		}
	}
	d.Inverse()
	n.Mul(&d).Normalize()
	return n
}

// ellPoint is a decoded peer key ready for scalar multiplication. Rather
// than lift x to a point (a square root), it stands in for (x, y) with
// (x·g, g²) where g = x³+7 = y²: the image of (x, y) under the isomorphism
// (x, y) ↦ (y²·x, y³·y) onto y² = x³ + 7g³. Point doubling and addition
// with a = 0 never use the curve's constant, and the GLV endomorphism
// commutes with the isomorphism, so btcec's multiplication works there
// unchanged; x(k·P) is then x(k·P')/g.
type ellPoint struct {
	x   btcec.FieldVal // affine x, normalized
	g   btcec.FieldVal // x³+7, normalized
	iso btcec.JacobianPoint
}

func decodeEllPoint(enc *[EllSwiftSize]byte) *ellPoint {
	p := &ellPoint{x: decodeEllSwiftX(enc)}
	p.g.SquareVal(&p.x).Mul(&p.x).AddInt(7).Normalize()
	p.iso.X.Mul2(&p.x, &p.g).Normalize()
	p.iso.Y.SquareVal(&p.g).Normalize()
	p.iso.Z.SetInt(1)
	return p
}

// mulX returns x(k·P) as the fraction num/den, leaving the inversion to
// the caller so that several can share one.
func (p *ellPoint) mulX(k *btcec.ModNScalar) (num, den btcec.FieldVal) {
	var r btcec.JacobianPoint
	btcec.ScalarMultNonConst(k, &p.iso, &r)
	num = r.X
	den.SquareVal(&r.Z).Mul(&p.g)
	return num, den
}

// invert2 replaces a and b (magnitude at most 8) by their inverses, with
// one field inversion (Montgomery's trick). Neither may be zero.
func invert2(a, b *btcec.FieldVal) {
	var ab, inv btcec.FieldVal
	ab.Mul2(a, b)
	inv.Set(&ab).Inverse()
	var ia, ib btcec.FieldVal
	ia.Mul2(&inv, b)
	ib.Mul2(&inv, a)
	*a, *b = ia, ib
}

// ecdhSecret is BIP324 v2_ecdh's output: the tagged hash of the
// initiator's encoding, the responder's encoding and the shared x.
func ecdhSecret(initiatorEll, responderEll *[EllSwiftSize]byte, x *btcec.FieldVal) [32]byte {
	var xb [32]byte
	x.PutBytes(&xb)
	h := sha256.New()
	h.Write(ecdhTagHash[:])
	h.Write(ecdhTagHash[:])
	h.Write(initiatorEll[:])
	h.Write(responderEll[:])
	h.Write(xb[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// xswiftecInv is BIP324 xswiftec_inv(x, u, case): a t such that (u, t)
// decodes to x, or false when this (u, case) has none. u and x are
// normalized. Square roots are the spec's (the (p+1)/4 power), so results
// equal its vectors byte for byte; the order of the tests only saves
// inversions on the paths that fail.
func xswiftecInv(u, x *btcec.FieldVal, c int) (btcec.FieldVal, bool) {
	var t, s, v, w, u2, g btcec.FieldVal
	u2.SquareVal(u)
	g.Mul2(&u2, u).AddInt(7).Normalize() // u³+7
	if c&2 == 0 {
		// None when -x-u is a valid x: then the other candidate decodes first.
		var m btcec.FieldVal
		m.Add2(x, u).Negate(2)
		if isValidX(&m) {
			return t, false
		}
		// s = -(u³+7) / (u² + ux + x²)
		var den btcec.FieldVal
		den.SquareVal(x).Add(&u2)
		var ux btcec.FieldVal
		ux.Mul2(u, x)
		den.Add(&ux).Inverse()
		s.Mul2(&den, &g).Negate(1).Normalize()
		if !w.SquareRootVal(&s) {
			return t, false
		}
		v.Set(x)
	} else {
		// s = x - u, not zero
		var negU btcec.FieldVal
		negU.NegateVal(u, 1)
		if s.Add2(x, &negU).Normalize().IsZero() {
			return t, false
		}
		// r = sqrt(-s(4(u³+7) + 3su²))
		var q, su2 btcec.FieldVal
		su2.Mul2(&s, &u2).MulInt(3)
		q.Set(&g).MulInt(4).Add(&su2).Mul(&s).Negate(1)
		var r btcec.FieldVal
		if !r.SquareRootVal(&q) {
			return t, false
		}
		if c&1 == 1 && r.Normalize().IsZero() {
			return t, false
		}
		if !w.SquareRootVal(&s) {
			return t, false
		}
		// v = (r/s - u)/2
		var sInv btcec.FieldVal
		sInv.Set(&s).Inverse()
		v.Mul2(&r, &sInv).Add(&negU).Mul(&fieldHalf)
	}
	// t = ±w(u(1∓c)/2 + v), sign and root by case bits 0 and 2
	coef := &encOneMinusC
	if c&1 == 1 {
		coef = &encOnePlusC
	}
	t.Mul2(u, coef).Add(&v).Mul(&w)
	if c&5 == 0 || c&5 == 5 {
		t.Negate(1)
	}
	t.Normalize()
	return t, true
}
