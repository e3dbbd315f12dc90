package config

import (
	"strings"
	"testing"
)

// TestFleetCredentialsWithoutNetworksRefused: hashgate refuses to start with a [[fleet]] group
// that would send its firmware password to any host naming a matching worker, and names the
// key to add as written in the TOML; with networks the same file loads.
func TestFleetCredentialsWithoutNetworksRefused(t *testing.T) {
	base := minimalFile + `[policy]
import_limit_kw = 100
[[fleet]]
name = "row-a"
match = "rack1.*"
firmware = "vnish"
rated_kw = 3.5
efficiency_j_th = 17.5
password = "s3cret"
`
	_, err := Parse(base)
	if err == nil || !strings.Contains(err.Error(), "fleet[0].networks") || !strings.Contains(err.Error(), "worker name") {
		t.Fatalf("got %v, want a refusal naming fleet[0].networks and why", err)
	}
	f, err := Parse(base + `networks = ["10.1.0.0/24", "10.2.0.9"]` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Fleet[0].Networks; len(n) != 2 || n[1] != "10.2.0.9" {
		t.Fatalf("networks decoded as %v", n)
	}
	if _, err := Parse(base + `networks = ["10.1.0.0/24", "rack1"]` + "\n"); err == nil || !strings.Contains(err.Error(), "fleet[0].networks[1]") {
		t.Fatalf("a bad entry: %v", err)
	}
	if _, err := Parse(base + `network = ["10.1.0.0/24"]` + "\n"); err == nil || !strings.Contains(err.Error(), `did you mean "fleet.networks"`) {
		t.Fatalf("a misspelt key: %v", err)
	}
}
