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
}

// DefaultConfig returns the settings used for keys absent from [power]: telemetry as
// DefaultPollerConfig, a 10-minute proven window and a day of energy intervals queued.
func DefaultConfig() Config {
	pc := DefaultPollerConfig()
	return Config{
		TelemetryInterval:   tomltime.Duration(pc.Interval),
		TelemetryParallel:   pc.Parallel,
		TelemetryTimeout:    tomltime.Duration(pc.Timeout),
		TelemetryBackoffMax: tomltime.Duration(pc.BackoffMax),
		ProvenWindow:        tomltime.Duration(10 * time.Minute),
		EnergyQueue:         1440,
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
	return errors.Join(errs...)
}
