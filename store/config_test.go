package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigTOML(t *testing.T) {
	var file struct {
		Store Config `toml:"store"`
	}
	file.Store = DefaultConfig()
	const doc = `
[store]
path = "/var/lib/hashgate/hashgate.db"
retention = "720h"
share_retention = "48h"
prune_interval = "30m"
queue_size = 1000
share_max_rows = 5_000_000
minute_rollup_retention = "24h"
`
	if _, err := toml.Decode(doc, &file); err != nil {
		t.Fatal(err)
	}
	c := file.Store
	if c.Path != "/var/lib/hashgate/hashgate.db" || c.Retention != 720*time.Hour ||
		c.ShareRetention != 48*time.Hour || c.PruneInterval != 30*time.Minute || c.QueueSize != 1000 || c.ShareMaxRows != 5_000_000 ||
		c.MinuteRollupRetention != 24*time.Hour {
		t.Fatalf("decoded %+v", c)
	}
	if c.MaxBatch != DefaultConfig().MaxBatch {
		t.Fatalf("unset key lost its default: max_batch = %d", c.MaxBatch)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateRejects(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"empty path":           func(c *Config) { c.Path = "" },
		"negative retention":   func(c *Config) { c.Retention = -time.Hour },
		"shares outlive rest":  func(c *Config) { c.ShareRetention = c.Retention + time.Hour },
		"prune too often":      func(c *Config) { c.PruneInterval = time.Millisecond },
		"zero queue":           func(c *Config) { c.QueueSize = 0 },
		"zero batch":           func(c *Config) { c.MaxBatch = 0 },
		"negative flush":       func(c *Config) { c.FlushInterval = -1 },
		"negative overflow":    func(c *Config) { c.OverflowKeys = -1 },
		"no read connections":  func(c *Config) { c.ReadConns = 0 },
		"negative busy timout": func(c *Config) { c.BusyTimeout = -time.Second },
		"negative share cap":   func(c *Config) { c.ShareMaxRows = -1 },
		"negative minutes":     func(c *Config) { c.MinuteRollupRetention = -time.Hour },
		"minutes outlive rest": func(c *Config) { c.MinuteRollupRetention = c.Retention + time.Hour },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
	c := DefaultConfig()
	c.ShareMaxRows = -20
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "share_max_rows -20") {
		t.Errorf("Validate = %v, want it to name share_max_rows", err)
	}
	c = DefaultConfig()
	c.MinuteRollupRetention = 31 * 24 * time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "minute_rollup_retention 744h0m0s exceeds retention") {
		t.Errorf("Validate = %v, want it to name minute_rollup_retention", err)
	}
}
