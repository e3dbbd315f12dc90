package firmware

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Config tunes the drivers. A nil *Config means DefaultConfig().
type Config struct {
	// DialTimeout bounds connecting to a miner.
	DialTimeout time.Duration
	// IOTimeout bounds one request/response exchange. A context deadline,
	// when earlier, wins.
	IOTimeout time.Duration
	// MaxReplyBytes caps a reply; a miner cannot make us buffer more. An
	// HTTP reply's headers are capped apart, at the smaller of this and
	// 64 KiB.
	MaxReplyBytes int
	// ConfirmAttempts is how many read-backs a write gets before
	// ErrNotConfirmed (the first one is immediate).
	ConfirmAttempts int
	// ConfirmInterval is the wait between read-backs.
	ConfirmInterval time.Duration
	// LuxOSSessionIdle is how long a cached LuxOS session is reused; LuxOS
	// drops sessions after 60 s idle, so stay below that.
	LuxOSSessionIdle time.Duration
	// WhatsminerTokenTTL is how long a Whatsminer token is reused; the
	// firmware documents a 30 min lifetime.
	WhatsminerTokenTTL time.Duration
	// Clock is the time source; nil means the wall clock.
	Clock Clock
	// Logger receives driver events; the zero value discards them.
	Logger zerolog.Logger
}

// DefaultConfig returns settings suited to a site LAN.
func DefaultConfig() *Config {
	return &Config{
		DialTimeout:        3 * time.Second,
		IOTimeout:          10 * time.Second,
		MaxReplyBytes:      1 << 20,
		ConfirmAttempts:    5,
		ConfirmInterval:    time.Second,
		LuxOSSessionIdle:   45 * time.Second,
		WhatsminerTokenTTL: 25 * time.Minute,
		Clock:              SystemClock{},
		Logger:             zerolog.Nop(),
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.DialTimeout <= 0 {
		errs = append(errs, errors.New("DialTimeout must be positive"))
	}
	if c.IOTimeout <= 0 {
		errs = append(errs, errors.New("IOTimeout must be positive"))
	}
	if c.MaxReplyBytes < 4096 {
		errs = append(errs, fmt.Errorf("MaxReplyBytes %d below 4096", c.MaxReplyBytes))
	}
	if c.ConfirmAttempts < 1 {
		errs = append(errs, errors.New("ConfirmAttempts must be at least 1"))
	}
	if c.ConfirmInterval < 0 {
		errs = append(errs, errors.New("ConfirmInterval must not be negative"))
	}
	if c.LuxOSSessionIdle <= 0 || c.LuxOSSessionIdle >= 60*time.Second {
		errs = append(errs, errors.New("LuxOSSessionIdle must be in (0, 60s)"))
	}
	if c.WhatsminerTokenTTL <= 0 || c.WhatsminerTokenTTL > 30*time.Minute {
		errs = append(errs, errors.New("WhatsminerTokenTTL must be in (0, 30m]"))
	}
	return errors.Join(errs...)
}

// orDefault returns a validated copy of c with nil fields filled.
func (c *Config) orDefault() (*Config, error) {
	if c == nil {
		return DefaultConfig(), nil
	}
	cp := *c
	if cp.Clock == nil {
		cp.Clock = SystemClock{}
	}
	if err := cp.Validate(); err != nil {
		return nil, err
	}
	return &cp, nil
}
