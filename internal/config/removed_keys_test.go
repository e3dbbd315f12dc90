package config

import (
	"strings"
	"testing"
)

// TestKeysThatDidNothingAreRefused: keys once accepted without effect now fail the load with
// the key named, instead of letting an operator believe they work.
func TestKeysThatDidNothingAreRefused(t *testing.T) {
	base := minimalFile
	fleet := `
[[fleet]]
name = "row-a"
match = "rack1.*"
firmware = "luxos"
rated_kw = 3.5
efficiency_j_th = 17.5
`
	policy := "[policy]\nimport_limit_kw = 100\n"
	if _, err := Parse(base + policy + fleet + "min_kw = 1.75\nmax_kw = 3.0\n"); err != nil {
		t.Fatalf("max_kw with min_kw: %v", err)
	}
	for name, tc := range map[string]struct{ text, want string }{
		// Every subscriber names its own capacity; the audit queue has its own bound.
		"policy event_buffer": {base + policy + "event_buffer = 256\n", `unknown key "policy.event_buffer"`},
		// On/off miners run at rated_kw: max_kw without a power-target range did nothing.
		"max_kw without min_kw": {base + policy + fleet + "max_kw = 3.0\n", "fleet[0].max_kw"},
	} {
		_, err := Parse(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, tc.want)
		}
	}
}
