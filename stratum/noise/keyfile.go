package noise

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Key file kinds.
const (
	KindAuthority = "sv2-authority-key"
	KindServer    = "sv2-server-key"
)

// KeyFile is the on-disk form of an authority key or of a server's static
// key with its certificate: a JSON object written with mode 0600.
//
// Authority:
//
//	{"kind": "sv2-authority-key",
//	 "secret_key": "<Base58Check(secret32), SRI format>",
//	 "public_key": "<Base58Check(0x0100 ‖ xonly32), the string pools publish>"}
//
// Server:
//
//	{"kind": "sv2-server-key",
//	 "secret_key": "<Base58Check(secret32)>",
//	 "public_key": "<hex xonly32 of the static key>",
//	 "authority_public_key": "<Base58Check authority key that signed>",
//	 "certificate": "<hex of the 74-byte SIGNATURE_NOISE_MESSAGE>",
//	 "valid_from": "RFC 3339", "not_valid_after": "RFC 3339"}
//
// The two times repeat the certificate for people reading the file; the
// certificate bytes are authoritative. ReadKeyFile checks that public keys
// match the secret and that the certificate's signature verifies.
type KeyFile struct {
	Kind               string     `json:"kind"`
	SecretKey          string     `json:"secret_key"`
	PublicKey          string     `json:"public_key"`
	AuthorityPublicKey string     `json:"authority_public_key,omitempty"`
	Certificate        string     `json:"certificate,omitempty"`
	ValidFrom          *time.Time `json:"valid_from,omitempty"`
	NotValidAfter      *time.Time `json:"not_valid_after,omitempty"`
}

// NewAuthorityKeyFile describes an authority key.
func NewAuthorityKeyFile(a *AuthorityKey) *KeyFile {
	return &KeyFile{
		Kind:      KindAuthority,
		SecretKey: EncodeSecretKey(a.Secret()),
		PublicKey: EncodeAuthorityKey(a.PublicKey()),
	}
}

// NewServerKeyFile describes a server static key and its certificate.
func NewServerKeyFile(static *KeyPair, cert Certificate, authority AuthorityPublicKey) *KeyFile {
	x := static.XOnly()
	enc := cert.Encode()
	from, until := cert.ValidFromTime(), cert.NotValidAfterTime()
	return &KeyFile{
		Kind:               KindServer,
		SecretKey:          EncodeSecretKey(static.Secret()),
		PublicKey:          hex.EncodeToString(x[:]),
		AuthorityPublicKey: EncodeAuthorityKey(authority),
		Certificate:        hex.EncodeToString(enc[:]),
		ValidFrom:          &from,
		NotValidAfter:      &until,
	}
}

// Authority returns the authority key of an authority key file.
func (f *KeyFile) Authority() (*AuthorityKey, error) {
	if f.Kind != KindAuthority {
		return nil, fmt.Errorf("%w: kind %q, want %q", ErrKeyFile, f.Kind, KindAuthority)
	}
	secret, err := DecodeSecretKey(f.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("%w: secret_key: %w", ErrKeyFile, err)
	}
	a, err := AuthorityKeyFromSecret(secret[:])
	if err != nil {
		return nil, err
	}
	if f.PublicKey != "" && f.PublicKey != EncodeAuthorityKey(a.PublicKey()) {
		return nil, fmt.Errorf("%w: public_key does not match secret_key", ErrKeyFile)
	}
	return a, nil
}

// Server returns the static key, certificate and signing authority of a
// server key file, after checking the certificate's signature (not its
// window: an expired certificate is reported when used).
func (f *KeyFile) Server() (*KeyPair, Certificate, AuthorityPublicKey, error) {
	fail := func(format string, args ...any) (*KeyPair, Certificate, AuthorityPublicKey, error) {
		return nil, Certificate{}, AuthorityPublicKey{}, fmt.Errorf("%w: "+format, append([]any{ErrKeyFile}, args...)...)
	}
	if f.Kind != KindServer {
		return fail("kind %q, want %q", f.Kind, KindServer)
	}
	secret, err := DecodeSecretKey(f.SecretKey)
	if err != nil {
		return fail("secret_key: %w", err)
	}
	static, err := KeyPairFromSecret(secret[:], nil)
	if err != nil {
		return fail("secret_key: %w", err)
	}
	x := static.XOnly()
	if f.PublicKey != "" && f.PublicKey != hex.EncodeToString(x[:]) {
		return fail("public_key does not match secret_key")
	}
	authority, err := DecodeAuthorityKey(f.AuthorityPublicKey)
	if err != nil {
		return fail("authority_public_key: %w", err)
	}
	raw, err := hex.DecodeString(f.Certificate)
	if err != nil {
		return fail("certificate: %w", err)
	}
	cert, err := DecodeCertificate(raw)
	if err != nil {
		return fail("certificate: %w", err)
	}
	if err := cert.VerifySignature(authority, x); err != nil {
		return fail("certificate: %w", err)
	}
	return static, cert, authority, nil
}

// WriteKeyFile writes f as JSON to path with mode 0600. It refuses to
// replace an existing file, so a key is never lost to a repeated command.
func WriteKeyFile(path string, f *KeyFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("noise: writing key file: %w", err)
	}
	_, werr := out.Write(data)
	serr := out.Sync()
	cerr := out.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return fmt.Errorf("noise: writing key file %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ReadKeyFile reads and parses a key file. It checks the structure; call
// Authority or Server for the keys.
func ReadKeyFile(path string) (*KeyFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("noise: reading key file: %w", err)
	}
	var f KeyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, filepath.Base(path), err)
	}
	switch f.Kind {
	case KindAuthority, KindServer:
	default:
		return nil, fmt.Errorf("%w: %s: unknown kind %q", ErrKeyFile, filepath.Base(path), f.Kind)
	}
	return &f, nil
}
