package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
)

// Duration is a config duration ("30s").
type Duration = tomltime.Duration

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("policy: invalid config")

// ConfigError names the TOML key that failed validation.
type ConfigError struct {
	Key    string // full key, e.g. "policy.margin_kw" or "fleet[2].match"
	Reason string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalidConfig) match.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Config is the [policy] section. Power is in kW, energy prices in currency per MWh.
// A zero Config is not usable: start from DefaultConfig and set ImportLimitKW, which has no
// safe default because it is a property of the site's grid connection.
type Config struct {
	// ImportLimitKW is the grid import the whole site must never exceed.
	ImportLimitKW float64 `toml:"import_limit_kw"`
	// MarginKW is standing headroom kept below the limit; it must cover the worst AI load step
	// within one meter period plus the firmware's shed time.
	MarginKW float64 `toml:"margin_kw"`
	// SafeFloorKW is the most mining may draw while a meter cannot be trusted.
	SafeFloorKW float64 `toml:"safe_floor_kw"`
	// StaleAfter is how old a reading may be before its meter counts as failed.
	StaleAfter Duration `toml:"stale_after"`
	// MinRun is the shortest time a miner runs before an economic (non-safety) pause.
	// Safety sheds ignore it.
	MinRun Duration `toml:"min_run"`
	// MinPause is the shortest time a miner stays paused before it may run again; it protects
	// hardware from power cycling and is never bypassed.
	MinPause Duration `toml:"min_pause"`
	// RestoreStepKW is how much mining power may be added per RestoreInterval.
	RestoreStepKW float64 `toml:"restore_step_kw"`
	// RestoreInterval paces restores; it should exceed the slowest firmware ramp so that the
	// meter sees one step before the next is taken.
	RestoreInterval Duration `toml:"restore_interval"`
	// HysteresisKW is headroom that must exist beyond a restore step before it is taken, so
	// that noise around the budget does not toggle miners.
	HysteresisKW float64 `toml:"hysteresis_kw"`
	// ConfirmAfter is the longest a shed is counted as still drawing without evidence (its
	// firmware's ramp time, when shorter, ends it earlier; telemetry showing the new draw ends
	// it at once). After it, what the miner still draws is seen by the meters and shed
	// elsewhere: that is the escalation for a miner that ignored its command.
	ConfirmAfter Duration `toml:"confirm_after"`
	// MeterLag is how far behind real time the site meter's readings are (its averaging
	// window plus the polling delay): commands and telemetry newer than that are not yet in
	// a reading, and the fleet's draw is estimated at the same instant.
	MeterLag Duration `toml:"meter_lag"`
	// TelemetryMaxAge is how old a miner's own power report may be and still be used.
	TelemetryMaxAge Duration `toml:"telemetry_max_age"`
	// MaxJumpKW is the largest physically plausible change between two readings of one power
	// meter; a bigger jump is nonsense until a second reading confirms the new level.
	// Zero means ImportLimitKW.
	MaxJumpKW float64 `toml:"max_jump_kw"`
	// AllowExport says the site may export (PV, storage): negative site_import is then valid.
	AllowExport bool `toml:"allow_export"`
	// UnderFrequencyHz trips the whole fleet off when the frequency meter reads below it.
	// Zero disables the trip (readings are still checked for plausibility).
	UnderFrequencyHz float64 `toml:"under_frequency_hz"`
	// UnderFrequencyHold keeps the fleet off for this long after frequency recovers.
	UnderFrequencyHold Duration `toml:"under_frequency_hold"`
	// StrikePrice pauses mining while the price meter reads above it. Zero disables it.
	// It is economic: min_run applies.
	StrikePrice float64 `toml:"strike_price"`
	// DRLead starts a demand-response event's shed this long before its start.
	DRLead Duration `toml:"dr_lead"`
	// ThrottleDeadbandKW ignores power-target changes smaller than this, to spare firmware.
	ThrottleDeadbandKW float64 `toml:"throttle_deadband_kw"`

	// Interval is how often the Runner steps the engine without a new reading.
	Interval Duration `toml:"interval"`
	// MaxParallel bounds concurrent Actuator calls. A shed of more miners than this waits
	// for its turn (a firmware call takes 1-25 s), so it should cover the largest shed.
	MaxParallel int `toml:"max_parallel"`
	// ApplyTimeout bounds one Actuator call (stock Antminer firmware takes ~21 s to answer).
	ApplyTimeout Duration `toml:"apply_timeout"`
}

// DefaultConfig returns the defaults for every key except import_limit_kw, which is site
// specific and must be set.
func DefaultConfig() Config {
	return Config{
		MarginKW:           50,
		SafeFloorKW:        0,
		StaleAfter:         Duration(5 * time.Second),
		MinRun:             Duration(2 * time.Minute),
		MinPause:           Duration(time.Minute),
		RestoreStepKW:      50,
		RestoreInterval:    Duration(30 * time.Second),
		HysteresisKW:       10,
		ConfirmAfter:       Duration(20 * time.Second),
		TelemetryMaxAge:    Duration(30 * time.Second),
		MeterLag:           Duration(time.Second),
		UnderFrequencyHold: Duration(10 * time.Minute),
		ThrottleDeadbandKW: 0.05,
		Interval:           Duration(time.Second),
		MaxParallel:        1024,
		ApplyTimeout:       Duration(30 * time.Second),
	}
}

// maxJump returns the effective plausibility bound.
func (c *Config) maxJump() float64 {
	if c.MaxJumpKW > 0 {
		return c.MaxJumpKW
	}
	return c.ImportLimitKW
}

// Validate reports the first invalid key. Thresholds fail at start, not during an event.
func (c *Config) Validate() error {
	finite := func(key string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return cfgErr(key, "must be a finite number")
		}
		return nil
	}
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"import_limit_kw", c.ImportLimitKW}, {"margin_kw", c.MarginKW},
		{"safe_floor_kw", c.SafeFloorKW}, {"restore_step_kw", c.RestoreStepKW},
		{"hysteresis_kw", c.HysteresisKW},
		{"max_jump_kw", c.MaxJumpKW}, {"under_frequency_hz", c.UnderFrequencyHz},
		{"strike_price", c.StrikePrice}, {"throttle_deadband_kw", c.ThrottleDeadbandKW},
	} {
		if err := finite("policy."+f.key, f.v); err != nil {
			return err
		}
	}
	switch {
	case c.ImportLimitKW <= 0:
		return cfgErr("policy.import_limit_kw", "must be > 0 (the site's grid import limit; no default)")
	case c.MarginKW < 0:
		return cfgErr("policy.margin_kw", "must be >= 0")
	case c.MarginKW >= c.ImportLimitKW:
		return cfgErr("policy.margin_kw", "must be below import_limit_kw (%g)", c.ImportLimitKW)
	case c.SafeFloorKW < 0:
		return cfgErr("policy.safe_floor_kw", "must be >= 0")
	case c.SafeFloorKW > c.ImportLimitKW-c.MarginKW:
		return cfgErr("policy.safe_floor_kw", "must not exceed import_limit_kw - margin_kw (%g)", c.ImportLimitKW-c.MarginKW)
	case c.StaleAfter <= 0:
		return cfgErr("policy.stale_after", "must be > 0")
	case c.MinRun < 0:
		return cfgErr("policy.min_run", "must be >= 0")
	case c.MinPause < 0:
		return cfgErr("policy.min_pause", "must be >= 0")
	case c.RestoreStepKW <= 0:
		return cfgErr("policy.restore_step_kw", "must be > 0")
	case c.RestoreInterval <= 0:
		return cfgErr("policy.restore_interval", "must be > 0")
	case c.HysteresisKW < 0:
		return cfgErr("policy.hysteresis_kw", "must be >= 0")
	case c.ConfirmAfter <= 0:
		return cfgErr("policy.confirm_after", "must be > 0")
	case c.MeterLag < 0 || c.MeterLag >= c.StaleAfter:
		return cfgErr("policy.meter_lag", "must be >= 0 and below stale_after (%s)", c.StaleAfter)
	case c.TelemetryMaxAge <= 0:
		return cfgErr("policy.telemetry_max_age", "must be > 0")
	case c.MaxJumpKW < 0:
		return cfgErr("policy.max_jump_kw", "must be >= 0 (0 means import_limit_kw)")
	case c.UnderFrequencyHz != 0 && (c.UnderFrequencyHz < minPlausibleHz || c.UnderFrequencyHz > maxPlausibleHz):
		return cfgErr("policy.under_frequency_hz", "must be 0 (off) or within %g..%g Hz", minPlausibleHz, maxPlausibleHz)
	case c.UnderFrequencyHold < 0:
		return cfgErr("policy.under_frequency_hold", "must be >= 0")
	case c.StrikePrice < 0:
		return cfgErr("policy.strike_price", "must be >= 0 (0 disables)")
	case c.DRLead < 0:
		return cfgErr("policy.dr_lead", "must be >= 0")
	case c.ThrottleDeadbandKW < 0:
		return cfgErr("policy.throttle_deadband_kw", "must be >= 0")
	case c.Interval <= 0:
		return cfgErr("policy.interval", "must be > 0")
	case c.Interval > c.StaleAfter:
		return cfgErr("policy.interval", "must not exceed stale_after (%s)", c.StaleAfter)
	case c.MaxParallel <= 0:
		return cfgErr("policy.max_parallel", "must be > 0")
	case c.ApplyTimeout <= 0:
		return cfgErr("policy.apply_timeout", "must be > 0")
	}
	return nil
}
