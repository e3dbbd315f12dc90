package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUpgradeKeys: [upgrade] drain, timeout and pid_file decode, take their defaults when
// unset (as the example says), and bad values are refused naming the key.
func TestUpgradeKeys(t *testing.T) {
	base := minimalFile
	f, err := Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if f.Upgrade.Drain.D() != 30*time.Second || f.Upgrade.Timeout.D() != time.Minute || f.Upgrade.PIDFile != "" {
		t.Fatalf("defaults %+v", f.Upgrade)
	}
	ex, err := Load(filepath.Join("..", "..", "hashgate.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if ex.Upgrade.Drain != f.Upgrade.Drain || ex.Upgrade.Timeout != f.Upgrade.Timeout {
		t.Fatalf("the example's [upgrade] %+v is not the defaults %+v", ex.Upgrade, f.Upgrade)
	}
	f, err = Parse(base + "[upgrade]\ndrain = \"0s\"\ntimeout = \"2m\"\npid_file = \"/run/hashgate/hashgate.pid\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Upgrade.Drain != 0 || f.Upgrade.Timeout.D() != 2*time.Minute || f.Upgrade.PIDFile != "/run/hashgate/hashgate.pid" {
		t.Fatalf("decoded %+v", f.Upgrade)
	}
	for text, want := range map[string]string{
		"drain = \"-1s\"\n":     "upgrade.drain: -1s is not between 0s and 10m0s",
		"drain = \"11m\"\n":     "upgrade.drain: 11m0s is not between",
		"drain = \"soon\"\n":    "upgrade.drain",
		"timeout = \"500ms\"\n": "upgrade.timeout: 500ms is not between 1s and 1h",
		"timeout = \"2h\"\n":    "upgrade.timeout",
		"drains = \"30s\"\n":    `unknown key "upgrade.drains" (did you mean "upgrade.drain"?)`,
	} {
		if _, err := Parse(base + "[upgrade]\n" + text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error with %q, got %v", strings.TrimSpace(text), want, err)
		}
	}
}
