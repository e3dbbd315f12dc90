package noise

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

// KeyPair is a secp256k1 secret key together with one ElligatorSwift
// encoding of its public key. A public key has many encodings; the one sent
// enters the handshake hash, so the pair is fixed once built.
type KeyPair struct {
	priv  *btcec.PrivateKey
	xonly [32]byte
	ell   [EllSwiftSize]byte
}

// NewKeyPair draws a secret key and an ElligatorSwift encoding from r
// (crypto/rand when nil). A deterministic r gives a deterministic pair.
func NewKeyPair(r io.Reader) (*KeyPair, error) {
	priv, err := newSecret(r)
	if err != nil {
		return nil, err
	}
	return keyPairFromPrivate(priv, r)
}

// KeyPairFromSecret builds a pair from a 32-byte secret, drawing the
// encoding's randomness from r (crypto/rand when nil).
func KeyPairFromSecret(secret []byte, r io.Reader) (*KeyPair, error) {
	priv, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	return keyPairFromPrivate(priv, r)
}

// KeyPairFromEncoding builds a pair from a 32-byte secret and a chosen
// encoding, which must decode to the secret's public key. Tests use it to
// replay vectors.
func KeyPairFromEncoding(secret []byte, encoding [EllSwiftSize]byte) (*KeyPair, error) {
	priv, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	x, err := DecodeEllSwift(encoding)
	if err != nil {
		return nil, err
	}
	kp := &KeyPair{priv: priv, ell: encoding, xonly: xOnly(priv)}
	if x != kp.xonly {
		return nil, fmt.Errorf("%w: encoding does not match secret", ErrInvalidKey)
	}
	return kp, nil
}

// EllSwift returns the encoding sent in the handshake.
func (k *KeyPair) EllSwift() [EllSwiftSize]byte { return k.ell }

// XOnly returns the BIP340 x-only public key, which certificates sign.
func (k *KeyPair) XOnly() [32]byte { return k.xonly }

// Secret returns the 32-byte secret key.
func (k *KeyPair) Secret() [32]byte {
	var s [32]byte
	k.priv.Key.PutBytes(&s)
	return s
}

func keyPairFromPrivate(priv *btcec.PrivateKey, r io.Reader) (*KeyPair, error) {
	if r == nil {
		r = rand.Reader
	}
	kp := &KeyPair{priv: priv, xonly: xOnly(priv)}
	var x btcec.FieldVal
	x.SetBytes(&kp.xonly)
	// Each (u, case) succeeds with probability about 1/2 (BIP324
	// xelligatorswift), so this loop ends after a few rounds.
	var buf [33]byte
	for {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, fmt.Errorf("noise: reading randomness: %w", err)
		}
		var u btcec.FieldVal
		u.SetByteSlice(buf[:32])
		u.Normalize()
		t, ok := xswiftecInv(&u, &x, int(buf[32]&7))
		if !ok {
			continue
		}
		u.PutBytesUnchecked(kp.ell[:32])
		t.PutBytesUnchecked(kp.ell[32:])
		return kp, nil
	}
}

// newSecret draws a uniformly random scalar in [1, n-1].
func newSecret(r io.Reader) (*btcec.PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("noise: reading randomness: %w", err)
		}
		if priv, err := parseSecret(b[:]); err == nil {
			return priv, nil
		}
	}
}

// parseSecret accepts exactly 32 bytes encoding a scalar in [1, n-1];
// btcec would silently reduce anything larger.
func parseSecret(b []byte) (*btcec.PrivateKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: secret is %d bytes, need 32", ErrInvalidKey, len(b))
	}
	var s btcec.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, fmt.Errorf("%w: secret out of range", ErrInvalidKey)
	}
	return btcec.PrivKeyFromScalar(&s), nil
}

func xOnly(priv *btcec.PrivateKey) [32]byte {
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&priv.Key, &p)
	p.ToAffine()
	var x [32]byte
	p.X.PutBytes(&x)
	return x
}

// DecodeEllSwift returns the x coordinate that a 64-byte ElligatorSwift
// encoding maps to (BIP324 ellswift_decode). Every 64-byte string decodes;
// the error is kept for callers that treat keys as fallible.
func DecodeEllSwift(enc [EllSwiftSize]byte) ([32]byte, error) {
	x := decodeEllSwiftX(&enc)
	var out [32]byte
	x.PutBytes(&out)
	return out, nil
}

// ecdh is BIP324 v2_ecdh as SV2 uses it: the x-only ECDH of our secret with
// their encoded key, hashed with both encodings, the initiator's first.
func ecdh(ours *KeyPair, theirs [EllSwiftSize]byte, initiator bool) ([32]byte, error) {
	p := decodeEllPoint(&theirs)
	num, den := p.mulX(&ours.priv.Key)
	den.Inverse()
	num.Mul(&den).Normalize()
	return ours.secretWith(&theirs, &num, initiator), nil
}

// secretWith hashes the shared x with both encodings in initiator order.
func (k *KeyPair) secretWith(theirs *[EllSwiftSize]byte, x *btcec.FieldVal, initiator bool) [32]byte {
	if initiator {
		return ecdhSecret(&k.ell, theirs, x)
	}
	return ecdhSecret(theirs, &k.ell, x)
}
