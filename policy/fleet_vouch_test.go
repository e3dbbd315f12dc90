package policy_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/policy"
)

// TestFleetCredentialsNeedWhereMinersLive: a group that logs in with credentials of its own
// and matches by worker name alone is refused, naming fleet[i].networks and saying why; it
// passes once it says where its miners are (networks, [fleet.addresses] or an IP-prefix match),
// and a group without credentials or without firmware needs none of that.
func TestFleetCredentialsNeedWhereMinersLive(t *testing.T) {
	base := policy.FleetGroup{Name: "g", Pattern: "rack1.*", Firmware: policy.FirmwareVNish, RatedKW: 3, EfficiencyJTH: 20}
	for _, tc := range []struct {
		name string
		mut  func(*policy.FleetGroup)
		key  string // "" when valid
	}{
		{"password by name", func(g *policy.FleetGroup) { g.Password = "s3cret" }, "fleet[0].networks"},
		{"username by name", func(g *policy.FleetGroup) { g.Username = "ops" }, "fleet[0].networks"},
		{"password, networks", func(g *policy.FleetGroup) { g.Password, g.Networks = "s3cret", []string{"10.1.0.0/24"} }, ""},
		{"password, one address", func(g *policy.FleetGroup) { g.Password, g.Networks = "s3cret", []string{"10.1.0.7"} }, ""},
		{"password, addresses", func(g *policy.FleetGroup) {
			g.Password, g.Addresses = "s3cret", map[string]string{"rack1.m01": "10.1.0.11"}
		}, ""},
		{"password, prefix match", func(g *policy.FleetGroup) { g.Password, g.Pattern = "s3cret", "10.1.0.0/24" }, ""},
		{"password, firmware none", func(g *policy.FleetGroup) { g.Password, g.Firmware = "s3cret", policy.FirmwareNone }, ""},
		{"no credentials", func(*policy.FleetGroup) {}, ""},
		{"bad network", func(g *policy.FleetGroup) { g.Networks = []string{"10.1.0.0/24", "rack1"} }, "fleet[0].networks[1]"},
		{"bad prefix", func(g *policy.FleetGroup) { g.Networks = []string{"10.1.0.0/33"} }, "fleet[0].networks[0]"},
		{"everything", func(g *policy.FleetGroup) { g.Password, g.Networks = "s3cret", []string{"0.0.0.0/0"} }, "fleet[0].networks[0]"},
		{"everything v6", func(g *policy.FleetGroup) { g.Networks = []string{"::/0"} }, "fleet[0].networks[0]"},
	} {
		g := base
		tc.mut(&g)
		err := policy.ValidateFleet([]policy.FleetGroup{g})
		if tc.key == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var ce *policy.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !errors.Is(err, policy.ErrInvalidConfig) {
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.key)
		}
	}
	g := base
	g.Password = "s3cret"
	err := policy.ValidateFleet([]policy.FleetGroup{g})
	for _, why := range []string{"worker name", "would be sent", "[fleet.addresses]"} {
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("the refusal does not say why (%q): %v", why, err)
		}
	}
}

// TestFleetVouched: an address is vouched for by a [fleet.addresses] entry for the worker, by
// the group's IP-prefix match, or by one of its networks (prefixes or single addresses, IPv4
// sources also as IPv4-mapped IPv6); a worker name alone vouches for nothing.
func TestFleetVouched(t *testing.T) {
	ip := netip.MustParseAddr
	named := policy.FleetGroup{Pattern: "rack1.*", Networks: []string{"10.1.0.0/24", "10.2.0.9", "fd00:1::/64", "::ffff:10.3.0.0/120"},
		Addresses: map[string]string{"rack1.nat": "10.9.9.9:4028"}}
	byIP := policy.FleetGroup{Pattern: "10.5.0.0/16"}
	for _, tc := range []struct {
		g      policy.FleetGroup
		worker string
		ip     netip.Addr
		want   bool
	}{
		{named, "rack1.a", ip("10.1.0.200"), true},
		{named, "rack1.a", ip("::ffff:10.1.0.200"), true},
		{named, "rack1.a", ip("10.1.1.1"), false},
		{named, "rack1.a", ip("10.2.0.9"), true},
		{named, "rack1.a", ip("10.2.0.10"), false},
		{named, "rack1.a", ip("fd00:1::7"), true},
		{named, "rack1.a", ip("fd00:2::7"), false},
		{named, "rack1.a", ip("10.3.0.4"), true},
		{named, "rack1.a", ip("127.0.0.1"), false},
		{named, "rack1.a", netip.Addr{}, false},
		{named, "rack1.nat", ip("192.168.7.7"), true}, // its control address is the configured one
		{byIP, "anything", ip("10.5.3.3"), true},
		{byIP, "anything", ip("10.6.3.3"), false},
		{policy.FleetGroup{Pattern: "rack1.*"}, "rack1.a", ip("10.1.0.1"), false},
	} {
		if got := tc.g.Vouched(tc.worker, tc.ip); got != tc.want {
			t.Errorf("%q %v: Vouched(%q, %v) = %v", tc.g.Pattern, tc.g.Networks, tc.worker, tc.ip, got)
		}
	}
}
