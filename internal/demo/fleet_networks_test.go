package demo

import (
	"net/netip"
	"testing"

	"github.com/hashgate/hashgate/policy"
)

// TestDemoFleetVouchesForItsMiners: demo.toml, as an operator would write it (before the demo
// adds each simulator's address), passes fleet validation, and every group with a firmware
// vouches for miners connecting from loopback, where the simulators are: the Braiins OS login
// and the telemetry go to them, not to whoever names a rack worker.
func TestDemoFleetVouchesForItsMiners(t *testing.T) {
	_, fleet, err := siteConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.ValidateFleet(fleet); err != nil {
		t.Fatalf("demo.toml: %v", err)
	}
	creds := 0
	for i := range fleet {
		g := &fleet[i]
		if g.HasCredentials() {
			creds++
		}
		if !g.Vouched("any", netip.MustParseAddr("127.0.0.1")) || g.Vouched("any", netip.MustParseAddr("192.168.1.20")) {
			t.Errorf("%s: vouches for %v", g.Name, g.Networks)
		}
	}
	if creds == 0 {
		t.Fatal("demo.toml has no group with credentials any more: this test checks nothing")
	}
}
