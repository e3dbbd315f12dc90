package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// The owner bounds a leader's order by stale_after - lease_ttl (7 s by default), below the
// default apply_timeout (30 s) that stock Antminer firmware (~21 s) needs: with the defaults
// every order to such firmware would fail at its owner. CheckPolicy says so, naming the keys
// and the value that fixes it (`hashgate check` and `run` print it), and a table that leaves
// the order its apply_timeout says nothing.
func TestOrderTimeBelowApplyTimeoutWarned(t *testing.T) {
	pc := policy.DefaultConfig()
	pc.ImportLimitKW = 100
	for _, tc := range []struct {
		name       string
		stale, ttl time.Duration
		warn       bool
	}{
		{"defaults", 10 * time.Second, 3 * time.Second, true},
		{"just short", 32 * time.Second, 3 * time.Second, true},
		{"enough", 33 * time.Second, 3 * time.Second, false},
		{"long lease", 60 * time.Second, 10 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := DefaultConfig()
			cc.Site, cc.Instance, cc.NATSURL = "ot", "a", "nats://127.0.0.1:1"
			cc.StaleAfter, cc.LeaseTTL = Duration(tc.stale), Duration(tc.ttl)
			err := cc.CheckPolicy(pc)
			var ce *ConfigError
			if tc.warn != (err != nil) {
				t.Fatalf("CheckPolicy: %v, want a warning %v", err, tc.warn)
			}
			if _, nerr := New(cc, Options{Policy: pc}); nerr != nil {
				t.Fatalf("New refused the table: %v", nerr)
			}
			if !tc.warn {
				return
			}
			if !errors.As(err, &ce) || ce.Key != "stale_after" {
				t.Fatalf("CheckPolicy: %v, want a ConfigError naming stale_after", err)
			}
			for _, key := range []string{"cluster.stale_after", "cluster.lease_ttl", "policy.apply_timeout"} {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("%q does not name %s", err, key)
				}
			}
			if want := "at least " + (pc.ApplyTimeout.D() + tc.ttl).String(); !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not say %q", err, want)
			}
		})
	}
}
