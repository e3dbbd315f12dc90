package noise

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// CertificateSize is the length of a SIGNATURE_NOISE_MESSAGE.
const CertificateSize = 2 + 4 + 4 + 64

// CertificateVersion is the only certificate version defined; sv2-tp rejects
// any other and so does hashgate.
const CertificateVersion = 0

// DefaultCertLeeway is the clock skew tolerated on both ends of a
// certificate's window; SRI uses the same 10 s, and miners without an RTC
// need it.
const DefaultCertLeeway = 10 * time.Second

// Certificate is the SIGNATURE_NOISE_MESSAGE the responder sends encrypted
// in act 2 (sv2-spec §4.5.2, protocol brief §2.3):
//
//	version         U16 LE
//	valid_from      U32 LE  unix seconds
//	not_valid_after U32 LE  unix seconds
//	signature       [64]    BIP340 by the authority key over
//	                        SHA256(version ‖ valid_from ‖ not_valid_after ‖ xonly(server static))
type Certificate struct {
	Version       uint16
	ValidFrom     uint32
	NotValidAfter uint32
	Signature     [64]byte
}

// Encode returns the 74-byte wire form.
func (c Certificate) Encode() [CertificateSize]byte {
	var b [CertificateSize]byte
	binary.LittleEndian.PutUint16(b[0:], c.Version)
	binary.LittleEndian.PutUint32(b[2:], c.ValidFrom)
	binary.LittleEndian.PutUint32(b[6:], c.NotValidAfter)
	copy(b[10:], c.Signature[:])
	return b
}

// DecodeCertificate parses the 74-byte wire form; any other length is an
// error.
func DecodeCertificate(b []byte) (Certificate, error) {
	if len(b) != CertificateSize {
		return Certificate{}, fmt.Errorf("%w: %d bytes, need %d", ErrBadCertificate, len(b), CertificateSize)
	}
	c := Certificate{
		Version:       binary.LittleEndian.Uint16(b[0:]),
		ValidFrom:     binary.LittleEndian.Uint32(b[2:]),
		NotValidAfter: binary.LittleEndian.Uint32(b[6:]),
	}
	copy(c.Signature[:], b[10:])
	return c, nil
}

// Digest is the 32-byte message the authority signs for the server static
// key serverX (x-only).
func (c Certificate) Digest(serverX [32]byte) [32]byte {
	var pre [10 + 32]byte
	binary.LittleEndian.PutUint16(pre[0:], c.Version)
	binary.LittleEndian.PutUint32(pre[2:], c.ValidFrom)
	binary.LittleEndian.PutUint32(pre[6:], c.NotValidAfter)
	copy(pre[10:], serverX[:])
	return sha256.Sum256(pre[:])
}

// ValidFromTime and NotValidAfterTime convert the window to time.Time.
func (c Certificate) ValidFromTime() time.Time { return time.Unix(int64(c.ValidFrom), 0).UTC() }

// NotValidAfterTime returns the end of the validity window.
func (c Certificate) NotValidAfterTime() time.Time {
	return time.Unix(int64(c.NotValidAfter), 0).UTC()
}

// VerifySignature checks the version and the authority's signature over
// serverX, ignoring time. Key files are checked this way on load.
func (c Certificate) VerifySignature(authority AuthorityPublicKey, serverX [32]byte) error {
	if c.Version != CertificateVersion {
		return fmt.Errorf("%w: version %d", ErrBadCertificate, c.Version)
	}
	d := c.Digest(serverX)
	return verifySchnorr(authority, d, c.Signature)
}

// Verify checks version, signature and that now lies in
// [valid_from-leeway, not_valid_after+leeway].
func (c Certificate) Verify(authority AuthorityPublicKey, serverX [32]byte, now time.Time, leeway time.Duration) error {
	if err := c.VerifySignature(authority, serverX); err != nil {
		return err
	}
	if now.Before(c.ValidFromTime().Add(-leeway)) {
		return fmt.Errorf("%w: valid from %s", ErrCertificateNotYetValid, c.ValidFromTime().Format(time.RFC3339))
	}
	if now.After(c.NotValidAfterTime().Add(leeway)) {
		return fmt.Errorf("%w: not valid after %s", ErrCertificateExpired, c.NotValidAfterTime().Format(time.RFC3339))
	}
	return nil
}

// IssueServerCertificate signs a certificate for the server static key with
// the authority key, valid from validFrom to validUntil (whole seconds,
// truncated). r supplies BIP340 aux randomness (crypto/rand when nil).
func IssueServerCertificate(authority *AuthorityKey, server *KeyPair, validFrom, validUntil time.Time, r io.Reader) (Certificate, error) {
	from, until := validFrom.Unix(), validUntil.Unix()
	if from < 0 || until > math.MaxUint32 || until < from {
		return Certificate{}, fmt.Errorf("%w: window %s..%s outside U32 seconds or reversed",
			ErrBadCertificate, validFrom.Format(time.RFC3339), validUntil.Format(time.RFC3339))
	}
	if r == nil {
		r = rand.Reader
	}
	var aux [32]byte
	if _, err := io.ReadFull(r, aux[:]); err != nil {
		return Certificate{}, fmt.Errorf("noise: reading randomness: %w", err)
	}
	c := Certificate{Version: CertificateVersion, ValidFrom: uint32(from), NotValidAfter: uint32(until)}
	sig, err := signSchnorr(authority, c.Digest(server.XOnly()), aux)
	if err != nil {
		return Certificate{}, err
	}
	c.Signature = sig
	return c, nil
}

// signSchnorr is BIP340 signing of a 32-byte message. btcd derives the nonce
// per BIP340 only when given aux randomness (otherwise RFC 6979), so aux is
// always passed.
func signSchnorr(key *AuthorityKey, msg [32]byte, aux [32]byte) ([64]byte, error) {
	var out [64]byte
	sig, err := schnorr.Sign(key.priv, msg[:], schnorr.CustomNonce(aux))
	if err != nil {
		return out, fmt.Errorf("noise: signing: %w", err)
	}
	copy(out[:], sig.Serialize())
	return out, nil
}

// verifySchnorr is BIP340 verification of a 32-byte message.
func verifySchnorr(pubX AuthorityPublicKey, msg [32]byte, sig [64]byte) error {
	pub, err := schnorr.ParsePubKey(pubX[:])
	if err != nil {
		return fmt.Errorf("%w: authority key: %v", ErrBadCertificate, err)
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return fmt.Errorf("%w: signature: %v", ErrBadCertificate, err)
	}
	if !s.Verify(msg[:], pub) {
		return fmt.Errorf("%w: signature does not verify", ErrBadCertificate)
	}
	return nil
}
