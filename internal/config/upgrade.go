package config

import (
	"fmt"
	"time"

	"github.com/hashgate/hashgate/proxy"
)

// UpgradeConfig is [upgrade]: how `hashgate run` hands over to a new process on SIGHUP (a new
// binary or a new config) without a refused connection: the new process inherits the
// listening sockets, and the old one moves its miners over and exits.
type UpgradeConfig struct {
	// Drain is the period over which the old process asks its V1 miners to reconnect, evenly
	// spread so the fleet moves in a wave rather than a storm; SV2 connections are closed after
	// it. Zero asks them all at once.
	Drain proxy.Duration `toml:"drain"`
	// Timeout is how long the new process has to start and get work from a pool; past it the
	// new process is stopped and the old one keeps serving.
	Timeout proxy.Duration `toml:"timeout"`
	// PIDFile, when set, holds the serving process's PID, rewritten by each new process once it
	// is ready: systemd's PIDFile= follows the service across upgrades with it.
	PIDFile string `toml:"pid_file"`
}

// DefaultUpgradeConfig drains over 30 s and gives a new process a minute.
func DefaultUpgradeConfig() UpgradeConfig {
	return UpgradeConfig{Drain: proxy.Duration(30 * time.Second), Timeout: proxy.Duration(time.Minute)}
}

// maxDrain bounds drain: miners wait out their own dead-pool timers (90 s for cgminer) on an
// old process that is no longer fed new pools or policy; past that they leave by themselves.
const maxDrain = 10 * time.Minute

// Validate names the wrong key.
func (c UpgradeConfig) Validate() error {
	if d := c.Drain.D(); d < 0 || d > maxDrain {
		return fmt.Errorf("upgrade.drain: %s is not between 0s and %s", d, maxDrain)
	}
	if d := c.Timeout.D(); d < time.Second || d > time.Hour {
		return fmt.Errorf("upgrade.timeout: %s is not between 1s and 1h", d)
	}
	return nil
}
