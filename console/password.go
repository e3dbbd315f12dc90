package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrBadHash is returned for a password or token hash that cannot be parsed.
var ErrBadHash = errors.New("console: malformed hash")

// Argon2id parameters for new password hashes (RFC 9106 second recommended option: 64 MiB,
// 3 passes). Stored hashes carry their own parameters, so these can grow later.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
	// Bounds on parameters accepted from a config file, so a hostile or mistyped hash cannot
	// make each login allocate gigabytes.
	argonMaxMemory = 1024 * 1024
	argonMaxTime   = 20
)

// HashPassword returns an argon2id PHC string for password:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<key> (base64 without padding).
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("console: empty password")
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// passwordHash is a parsed argon2id PHC string.
type passwordHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parsePasswordHash(s string) (passwordHash, error) {
	var h passwordHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, fmt.Errorf("%w: want $argon2id$v=19$m=...,t=...,p=...$salt$key (from `hashgate hash-password`)", ErrBadHash)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return h, fmt.Errorf("%w: unsupported argon2 version %q", ErrBadHash, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return h, fmt.Errorf("%w: bad parameters %q", ErrBadHash, parts[3])
	}
	if h.memory < 8*uint32(max(h.threads, 1)) || h.memory > argonMaxMemory || h.time < 1 || h.time > argonMaxTime || h.threads < 1 {
		return h, fmt.Errorf("%w: parameters out of range %q", ErrBadHash, parts[3])
	}
	var err error
	b64 := base64.RawStdEncoding
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, fmt.Errorf("%w: bad salt", ErrBadHash)
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, fmt.Errorf("%w: bad key", ErrBadHash)
	}
	return h, nil
}

func (h *passwordHash) verify(password string) bool {
	k := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(k, h.key) == 1
}

// VerifyPassword reports whether password matches an argon2id PHC string.
func VerifyPassword(hash, password string) bool {
	h, err := parsePasswordHash(hash)
	return err == nil && h.verify(password)
}

// NewToken returns a random API token and the "sha256:<hex>" hash to put in token_hash.
// Tokens carry 256 bits of entropy, so a fast hash is enough: there is nothing to guess.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "hg_" + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the token_hash value for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func parseTokenHash(s string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	hexs, ok := strings.CutPrefix(s, "sha256:")
	b, err := hex.DecodeString(hexs)
	if !ok || err != nil || len(b) != sha256.Size {
		return out, fmt.Errorf("%w: want sha256:<64 hex digits> (from `hashgate hash-password -token`)", ErrBadHash)
	}
	copy(out[:], b)
	return out, nil
}
