package noise

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
)

// Config tunes handshakes, transport and Listener. Start from
// DefaultConfig; a nil *Config anywhere means DefaultConfig().
type Config struct {
	// Now is the clock certificates are checked against. nil means
	// time.Now. Tests inject a fixed clock.
	Now func() time.Time

	// CertLeeway is the skew tolerated at both ends of a certificate's
	// validity window. Zero is strict (as sv2-tp); SRI uses 10 s.
	CertLeeway time.Duration

	// HandshakeTimeout bounds a whole handshake run by Client, Server or
	// Listener, through the connection's deadline. Zero means no deadline
	// (only sensible when the caller sets one).
	HandshakeTimeout time.Duration

	// MaxHandshakes is how many handshakes a Listener runs at once. When
	// all slots are busy it stops accepting, leaving new peers in the
	// kernel backlog, rather than growing without bound.
	MaxHandshakes int

	// MaxPayload caps the payload of a received frame, at most MaxPayload
	// (16 MiB - 1, the U24 limit). A larger header is fatal to the Conn.
	// Memory is committed as ciphertext arrives, not from the header.
	MaxPayload int

	// Rand supplies ephemeral keys. nil means crypto/rand.
	Rand io.Reader

	// Ephemeral, when set, replaces ephemeral key generation. It exists so
	// tests can replay fixed vectors; leave it nil in production.
	Ephemeral func() (*KeyPair, error)

	// InsecureSkipVerify lets an Initiator with no authority key accept
	// any server certificate, as SRI does when no key is configured. Only
	// for trusted local networks: without it there is no server
	// authentication at all.
	InsecureSkipVerify bool

	// Logger receives handshake outcomes from Listener. Default zerolog.Nop().
	Logger zerolog.Logger
}

// Defaults.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHandshakes    = 256
)

// DefaultConfig returns the settings hashgate uses unless configured.
func DefaultConfig() *Config {
	return &Config{
		CertLeeway:       DefaultCertLeeway,
		HandshakeTimeout: DefaultHandshakeTimeout,
		MaxHandshakes:    DefaultMaxHandshakes,
		MaxPayload:       MaxPayload,
		Logger:           zerolog.Nop(),
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.CertLeeway < 0 {
		errs = append(errs, fmt.Errorf("CertLeeway %s is negative", c.CertLeeway))
	}
	if c.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("HandshakeTimeout %s is negative", c.HandshakeTimeout))
	}
	if c.MaxHandshakes < 1 {
		errs = append(errs, fmt.Errorf("MaxHandshakes %d, need at least 1", c.MaxHandshakes))
	}
	if c.MaxPayload < 0 || c.MaxPayload > MaxPayload {
		errs = append(errs, fmt.Errorf("MaxPayload %d outside [0, %d]", c.MaxPayload, MaxPayload))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("noise: config: %w", err)
	}
	return nil
}

// orDefault returns c, or DefaultConfig() when c is nil, after validation.
func orDefault(c *Config) (*Config, error) {
	if c == nil {
		return DefaultConfig(), nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) ephemeral() (*KeyPair, error) {
	if c.Ephemeral != nil {
		return c.Ephemeral()
	}
	return NewKeyPair(c.Rand)
}
