package config

import (
	"strings"
	"testing"
	"time"
)

// TestPowerOfflineKeys: [power] offline_ttl and max_offline reach the power Controller's
// config, and bad values are refused naming the key.
func TestPowerOfflineKeys(t *testing.T) {
	base := minimalFile + `[power]
`
	f, err := Parse(base + "offline_ttl = \"30m\"\nmax_offline = 5\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Power.OfflineTTL.D() != 30*time.Minute || f.Power.MaxOffline != 5 {
		t.Fatalf("decoded %+v", f.Power)
	}
	for text, want := range map[string]string{
		"offline_ttl = \"10s\"\n": "power.offline_ttl",
		"max_offline = 0\n":       "power.max_offline",
		"offline_tl = \"1h\"\n":   "offline_tl",
	} {
		if _, err := Parse(base + text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error naming %q, got %v", strings.TrimSpace(text), want, err)
		}
	}
}
