package power

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
)

// Config is the [power] table of hashgate.toml. Start from DefaultConfig: a zero field is not
// its default.
type Config struct {
	// TelemetryInterval is how often each controllable miner's firmware is asked for its
	// status (measured power, running or sleeping).
	TelemetryInterval tomltime.Duration `toml:"telemetry_interval"`
	// TelemetryParallel bounds the status calls in flight.
	TelemetryParallel int `toml:"telemetry_parallel"`
	// TelemetryTimeout bounds one status call.
	TelemetryTimeout tomltime.Duration `toml:"telemetry_timeout"`
	// TelemetryBackoffMax caps how rarely a miner that does not answer is still polled.
	TelemetryBackoffMax tomltime.Duration `toml:"telemetry_backoff_max"`
	// ProvenWindow is how recent a miner's last valid share (or its firmware's report that it
	// runs or sleeps) must be for the policy to budget it. A session that authorized and
	// never submitted a valid share is unknown, not a miner.
	ProvenWindow tomltime.Duration `toml:"proven_window"`
	// EnergyQueue is the capacity of the queue from the meter feed to the energy ledger's
	// store writer (one item per metering minute). When the store stalls longer than that,
	// the newest interval is dropped and counted (drop reason power_energy_full): a slow disk
	// never delays a meter reading.
	EnergyQueue int `toml:"energy_queue"`
	// OfflineTTL is how long the inventory keeps a disconnected worker that no hold pins (its
	// last command, its evidence, the warnings about it) and the store its last decided state,
	// counted from when its last connection closed. A held worker is kept until the hold goes:
	// an operator's pause is never forgotten while it stands.
	OfflineTTL tomltime.Duration `toml:"offline_ttl"`
	// MaxOffline bounds the disconnected, hold-free workers kept within OfflineTTL; beyond it
	// the longest-disconnected are forgotten first (a client churning worker names cannot grow
	// the inventory).
	MaxOffline int `toml:"max_offline"`
}

// DefaultConfig returns the settings used for keys absent from [power]: telemetry as
// DefaultPollerConfig, a 10-minute proven window, a day of energy intervals queued, and
// disconnected workers kept for a day (10,000 at most) so an operator sees who went offline.
func DefaultConfig() Config {
	pc := DefaultPollerConfig()
	return Config{
		TelemetryInterval:   tomltime.Duration(pc.Interval),
		TelemetryParallel:   pc.Parallel,
		TelemetryTimeout:    tomltime.Duration(pc.Timeout),
		TelemetryBackoffMax: tomltime.Duration(pc.BackoffMax),
		ProvenWindow:        tomltime.Duration(10 * time.Minute),
		EnergyQueue:         1440,
		OfflineTTL:          tomltime.Duration(24 * time.Hour),
		MaxOffline:          10000,
	}
}

// Poller returns the telemetry poller's part of the config.
func (c Config) Poller() PollerConfig {
	return PollerConfig{Interval: c.TelemetryInterval.D(), Timeout: c.TelemetryTimeout.D(),
		BackoffMax: c.TelemetryBackoffMax.D(), Parallel: c.TelemetryParallel}
}

// Validate reports the first keys that cannot work, named as in hashgate.toml.
func (c Config) Validate() error {
	var errs []error
	if err := c.Poller().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ProvenWindow <= 0 {
		errs = append(errs, errors.New("power.proven_window: must be > 0"))
	}
	if c.EnergyQueue < 1 {
		errs = append(errs, fmt.Errorf("power.energy_queue: %d must be >= 1", c.EnergyQueue))
	}
	if c.OfflineTTL.D() < time.Minute {
		errs = append(errs, fmt.Errorf("power.offline_ttl: %v must be >= 1m", c.OfflineTTL.D()))
	}
	if c.MaxOffline < 1 {
		errs = append(errs, fmt.Errorf("power.max_offline: %d must be >= 1", c.MaxOffline))
	}
	return errors.Join(errs...)
}
