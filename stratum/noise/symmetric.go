package noise

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// ProtocolName is the Noise protocol name; SHA-256 of it seeds the chaining
// key (sv2-spec §4.3).
const ProtocolName = "Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256"

// Sizes on the wire (protocol brief §2.1).
const (
	// MACSize is the Poly1305 tag length.
	MACSize = 16
	// EllSwiftSize is the length of an ElligatorSwift-encoded public key.
	EllSwiftSize = 64
	// Act1Size is the initiator's first message: ell(e_i).
	Act1Size = EllSwiftSize
	// Act2Size is the responder's message: ell(e_r) ‖ enc(ell(s_r)) ‖
	// enc(certificate). The spec text still says 170 (sv2-spec#215).
	Act2Size = EllSwiftSize + EllSwiftSize + MACSize + CertificateSize + MACSize
	// HeaderSize is the plaintext SV2 frame header.
	HeaderSize = 6
	// EncryptedHeaderSize is a sealed SV2 frame header.
	EncryptedHeaderSize = HeaderSize + MACSize
	// MaxChunkSize is the largest Noise message, MAC included.
	MaxChunkSize = 65535
	// MaxChunkPlaintext is the most payload one chunk carries.
	MaxChunkPlaintext = MaxChunkSize - MACSize
	// MaxPayload is the largest payload an SV2 header can describe (U24).
	MaxPayload = 1<<24 - 1
)

var (
	initialCK = sha256.Sum256([]byte(ProtocolName))
	initialH  = sha256.Sum256(initialCK[:])
)

// cipherState is a Noise CipherState: a ChaCha20-Poly1305 key and a nonce
// counter. The zero value has no key and passes data through (Noise
// EncryptWithAd before the first MixKey).
type cipherState struct {
	aead  cipher.AEAD
	n     uint64
	nonce [chacha20poly1305.NonceSize]byte
}

func (c *cipherState) initKey(k [32]byte) {
	aead, err := chacha20poly1305.New(k[:])
	if err != nil {
		// Only a wrong key length fails, and k is always 32 bytes.
		panic(err)
	}
	c.aead = aead
	c.n = 0
}

// nextNonce returns the nonce for the next message: 4 zero bytes then the
// counter as u64 LE. Noise reserves 2^64-1, so the counter refuses to reach it.
func (c *cipherState) nextNonce() ([]byte, error) {
	if c.n == math.MaxUint64 {
		return nil, ErrNonceExhausted
	}
	binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	c.n++
	return c.nonce[:], nil
}

// seal appends the encryption of plaintext to dst.
func (c *cipherState) seal(dst, ad, plaintext []byte) ([]byte, error) {
	if c.aead == nil {
		return append(dst, plaintext...), nil
	}
	nonce, err := c.nextNonce()
	if err != nil {
		return nil, err
	}
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

// open appends the decryption of ciphertext to dst.
func (c *cipherState) open(dst, ad, ciphertext []byte) ([]byte, error) {
	if c.aead == nil {
		return append(dst, ciphertext...), nil
	}
	nonce, err := c.nextNonce()
	if err != nil {
		return nil, err
	}
	out, err := c.aead.Open(dst, nonce, ciphertext, ad)
	if err != nil {
		return nil, fmt.Errorf("%w (nonce %d)", ErrDecrypt, c.n-1)
	}
	return out, nil
}

// symmetricState is the Noise SymmetricState: chaining key, handshake hash
// and the cipher keyed by the latest MixKey.
type symmetricState struct {
	cs cipherState
	ck [32]byte
	h  [32]byte
	k  [32]byte // kept for vector tests; equals the key inside cs
}

func (s *symmetricState) init() {
	s.ck = initialCK
	s.h = initialH
	s.cs = cipherState{}
}

func (s *symmetricState) mixHash(data []byte) {
	d := sha256.New()
	d.Write(s.h[:])
	d.Write(data)
	d.Sum(s.h[:0])
}

func (s *symmetricState) mixKey(ikm []byte) {
	s.ck, s.k = hkdf2(s.ck[:], ikm)
	s.cs.initKey(s.k)
}

func (s *symmetricState) encryptAndHash(dst, plaintext []byte) ([]byte, error) {
	start := len(dst)
	out, err := s.cs.seal(dst, s.h[:], plaintext)
	if err != nil {
		return nil, err
	}
	s.mixHash(out[start:])
	return out, nil
}

func (s *symmetricState) decryptAndHash(dst, ciphertext []byte) ([]byte, error) {
	out, err := s.cs.open(dst, s.h[:], ciphertext)
	if err != nil {
		return nil, err
	}
	s.mixHash(ciphertext)
	return out, nil
}

// split derives the two transport keys: the first for initiator→responder,
// the second for responder→initiator.
func (s *symmetricState) split() (k1, k2 [32]byte) {
	return hkdf2(s.ck[:], nil)
}

// hkdf2 is the Noise HKDF with two outputs, equal to RFC 5869 with salt=ck,
// empty info and 64 bytes of output.
func hkdf2(ck, ikm []byte) (o1, o2 [32]byte) {
	m := hmac.New(sha256.New, ck)
	m.Write(ikm)
	var t [32]byte
	m.Sum(t[:0])

	m = hmac.New(sha256.New, t[:])
	m.Write([]byte{0x01})
	m.Sum(o1[:0])

	m.Reset()
	m.Write(o1[:])
	m.Write([]byte{0x02})
	m.Sum(o2[:0])
	return o1, o2
}
