package noise

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// authorityKeyVersion is the u16 LE prefix of an encoded authority public
// key (sv2-spec §4.7.1): the payload starts 0x01 0x00.
const authorityKeyVersion = 1

// AuthorityKey is the pool's authority secret key. It signs server
// certificates and should live offline, away from the servers.
type AuthorityKey struct {
	priv *btcec.PrivateKey
}

// GenerateAuthority draws a new authority key from r (crypto/rand when nil).
func GenerateAuthority(r io.Reader) (*AuthorityKey, error) {
	priv, err := newSecret(r)
	if err != nil {
		return nil, err
	}
	return &AuthorityKey{priv: priv}, nil
}

// AuthorityKeyFromSecret builds an authority key from its 32-byte secret.
func AuthorityKeyFromSecret(secret []byte) (*AuthorityKey, error) {
	priv, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	return &AuthorityKey{priv: priv}, nil
}

// PublicKey returns the x-only public key that clients pin.
func (a *AuthorityKey) PublicKey() AuthorityPublicKey {
	var k AuthorityPublicKey
	copy(k[:], schnorr.SerializePubKey(a.priv.PubKey()))
	return k
}

// Secret returns the 32-byte secret.
func (a *AuthorityKey) Secret() [32]byte {
	var s [32]byte
	a.priv.Key.PutBytes(&s)
	return s
}

// AuthorityPublicKey is a BIP340 x-only public key.
type AuthorityPublicKey [32]byte

// String returns the Base58Check form (EncodeAuthorityKey).
func (k AuthorityPublicKey) String() string { return EncodeAuthorityKey(k) }

// MarshalText implements encoding.TextMarshaler with the Base58Check form,
// so config files carry the key as pools publish it.
func (k AuthorityPublicKey) MarshalText() ([]byte, error) { return []byte(EncodeAuthorityKey(k)), nil }

// UnmarshalText implements encoding.TextUnmarshaler (DecodeAuthorityKey).
func (k *AuthorityPublicKey) UnmarshalText(b []byte) error {
	d, err := DecodeAuthorityKey(string(b))
	if err != nil {
		return err
	}
	*k = d
	return nil
}

// EncodeAuthorityKey returns Base58Check(0x01 0x00 ‖ x), the string pools
// publish and miners paste (e.g. in stratum2+tcp://host:port/<key>).
func EncodeAuthorityKey(k AuthorityPublicKey) string {
	var payload [2 + 32]byte
	binary.LittleEndian.PutUint16(payload[:], authorityKeyVersion)
	copy(payload[2:], k[:])
	return base58CheckEncode(payload[:])
}

// DecodeAuthorityKey parses the Base58Check form, checking checksum, version
// prefix, length and that x is on the curve.
func DecodeAuthorityKey(s string) (AuthorityPublicKey, error) {
	payload, err := base58CheckDecode(s)
	if err != nil {
		return AuthorityPublicKey{}, err
	}
	if len(payload) != 2+32 {
		return AuthorityPublicKey{}, fmt.Errorf("%w: payload is %d bytes, need 34", ErrKeyEncoding, len(payload))
	}
	if v := binary.LittleEndian.Uint16(payload); v != authorityKeyVersion {
		return AuthorityPublicKey{}, fmt.Errorf("%w: key version %d, need %d", ErrKeyEncoding, v, authorityKeyVersion)
	}
	var k AuthorityPublicKey
	copy(k[:], payload[2:])
	if _, err := schnorr.ParsePubKey(k[:]); err != nil {
		return AuthorityPublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return k, nil
}

// ParseAuthorityPublicKeyHex parses a 64-hex-digit x-only key.
func ParseAuthorityPublicKeyHex(s string) (AuthorityPublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return AuthorityPublicKey{}, fmt.Errorf("%w: need 64 hex digits", ErrKeyEncoding)
	}
	var k AuthorityPublicKey
	copy(k[:], b)
	if _, err := schnorr.ParsePubKey(k[:]); err != nil {
		return AuthorityPublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return k, nil
}

// EncodeSecretKey returns Base58Check(secret) with no prefix, the form SRI
// configuration files use for secret keys.
func EncodeSecretKey(secret [32]byte) string { return base58CheckEncode(secret[:]) }

// DecodeSecretKey parses the form written by EncodeSecretKey.
func DecodeSecretKey(s string) ([32]byte, error) {
	payload, err := base58CheckDecode(s)
	if err != nil {
		return [32]byte{}, err
	}
	if len(payload) != 32 {
		return [32]byte{}, fmt.Errorf("%w: secret is %d bytes, need 32", ErrKeyEncoding, len(payload))
	}
	if _, err := parseSecret(payload); err != nil {
		return [32]byte{}, err
	}
	var out [32]byte
	copy(out[:], payload)
	return out, nil
}

func base58CheckEncode(payload []byte) string {
	sum := checksum(payload)
	return base58.Encode(append(append([]byte(nil), payload...), sum[:]...))
}

func base58CheckDecode(s string) ([]byte, error) {
	raw := base58.Decode(s)
	if len(raw) < 4 {
		// base58.Decode returns nothing for characters outside the alphabet.
		return nil, fmt.Errorf("%w: not base58 or too short", ErrKeyEncoding)
	}
	payload, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	want := checksum(payload)
	if !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("%w: checksum", ErrKeyEncoding)
	}
	return payload, nil
}

func checksum(b []byte) [4]byte {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	var c [4]byte
	copy(c[:], h2[:4])
	return c
}
