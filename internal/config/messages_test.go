package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/store"
)

// TestCheckMessages: what `hashgate check` prints for the mistakes operators make. A misspelt
// table is named once with the closest known name, a section's key is never prefixed twice and
// a value that does not decode names its key.
func TestCheckMessages(t *testing.T) {
	base := minimalFile
	policy := "[policy]\nimport_limit_kw = 100\n"
	for name, tc := range map[string]struct {
		text, want string
		not        []string
	}{
		"misspelt table": {base + "[consol]\naddress = \"127.0.0.1:8080\"\ntls_cert = \"x\"\n",
			`unknown key "consol" (did you mean "console"?)`, []string{"consol.address", "tls_cert"}},
		"misspelt key": {base + "[console]\naddres = \"127.0.0.1:8080\"\n",
			`unknown key "console.addres" (did you mean "console.address"?)`, nil},
		"misspelt key in an array of tables": {base + "passwrod = \"x\"\n",
			`unknown key "pool.passwrod" (did you mean "pool.password"?)`, nil},
		"nothing close": {base + "[console]\nbatch_interval = \"1s\"\n",
			`unknown key "console.batch_interval" (check its spelling and section)`, []string{"did you mean"}},
		"two unknown tables": {base + "[consol]\naddress = \"x\"\n[stor]\npath = \"y\"\n",
			`unknown key "consol" (did you mean "console"?); unknown key "stor" (did you mean "store"?)`, nil},
		"console prefix once": {base + "[console]\naddress = \"nope\"\n",
			"console.address: ", []string{"console.console"}},
		"store prefix once": {base + "[store]\npath = \"\"\n",
			"store.path: is empty", []string{"store.store", "store: invalid"}},
		"store value": {base + "[store]\nqueue_size = 0\n",
			"store.queue_size: 0 must be at least 1", nil},
		"duration without unit": {base + policy + "restore_interval = \"30\"\n",
			`policy.restore_interval: missing unit in duration "30" (line 11)`, []string{"time:"}},
		"duration as a number": {base + "[proxy]\njob_timeout = 30\n",
			`proxy.job_timeout: missing unit in duration`, nil},
		"duration in a meter": {base + policy + "[[meter]]\nname = \"site\"\ninterval = \"5\"\n",
			`meter.interval: missing unit in duration "5"`, nil},
	} {
		_, err := Parse(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
			continue
		}
		for _, bad := range tc.not {
			if strings.Contains(err.Error(), bad) {
				t.Errorf("%s: %q should not say %q", name, err, bad)
			}
		}
	}
}

// TestSectionErrorsStillMatch: naming the key does not hide the subsystem's sentinel.
func TestSectionErrorsStillMatch(t *testing.T) {
	c := console.DefaultConfig()
	c.Address = "nope"
	if err := inSection("console", c.Validate()); !errors.Is(err, console.ErrInvalidConfig) || strings.Count(err.Error(), "console.") != 1 {
		t.Fatalf("console: %v", err)
	}
	s := store.DefaultConfig()
	s.Path = ""
	if err := inSection("store", s.Validate()); !errors.Is(err, store.ErrInvalidConfig) || err.Error() != "store.path: is empty" {
		t.Fatalf("store: %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"consol", "console", 1}, {"addres", "address", 1}, {"kitten", "sitting", 3}, {"abc", "", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
