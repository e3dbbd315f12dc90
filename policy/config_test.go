package policy_test

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hashgate/hashgate/policy"
)

const exampleTOML = `
[policy]
import_limit_kw = 1500
margin_kw = 60
safe_floor_kw = 200
stale_after = "5s"
min_run = "2m"
min_pause = "1m"
restore_step_kw = 50
restore_interval = "15s"
confirm_after = "15s"
max_jump_kw = 1000
under_frequency_hz = 59.7

[[fleet]]
name = "s21"
match = "rack1.*"
firmware = "braiins"
rated_kw = 3.5
efficiency_j_th = 17.5
priority = 2
min_kw = 1.5
port = 50051
addresses = { "rack1.m01" = "10.1.0.11" }

[[fleet]]
name = "bitaxe"
match = "10.9.0.0/24"
firmware = "bitaxe"
rated_kw = 0.015
efficiency_j_th = 20
`

func TestConfigTOML(t *testing.T) {
	var file struct {
		Policy policy.Config       `toml:"policy"`
		Fleet  []policy.FleetGroup `toml:"fleet"`
	}
	file.Policy = policy.DefaultConfig()
	md, err := toml.Decode(exampleTOML, &file)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("keys without a field: %v", u)
	}
	if err := file.Policy.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := policy.ValidateFleet(file.Fleet); err != nil {
		t.Fatal(err)
	}
	p := file.Policy
	if p.StaleAfter.D() != 5*time.Second || p.MinRun.D() != 2*time.Minute || p.ImportLimitKW != 1500 || p.HysteresisKW != 10 {
		t.Fatalf("decoded %+v", p)
	}
	g := file.Fleet[0]
	if g.Port != 50051 || g.Addresses["rack1.m01"] != "10.1.0.11" || g.Priority != 2 {
		t.Fatalf("fleet %+v", g)
	}
	if lo, hi, ok := g.Throttle(); !ok || lo != 1.5 || hi != 3.5 {
		t.Fatalf("throttle %v %v %v", lo, hi, ok)
	}
	if _, _, ok := file.Fleet[1].Throttle(); ok {
		t.Fatal("bitaxe has no power target")
	}
	// Round trip through the encoder.
	var sb strings.Builder
	if err := toml.NewEncoder(&sb).Encode(file); err != nil {
		t.Fatal(err)
	}
	var again = file
	again.Policy, again.Fleet = policy.Config{}, nil
	if _, err := toml.Decode(sb.String(), &again); err != nil || again.Policy != file.Policy {
		t.Fatalf("round trip: %v\n%s", err, sb.String())
	}
	var d policy.Duration
	if err := d.UnmarshalText([]byte("3 seconds")); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestConfigValidateNamesKey(t *testing.T) {
	valid := func() policy.Config {
		c := policy.DefaultConfig()
		c.ImportLimitKW = 1000
		return c
	}
	if c := valid(); c.Validate() != nil {
		t.Fatal(c.Validate())
	}
	if def := policy.DefaultConfig(); def.Validate() == nil || !strings.Contains(def.Validate().Error(), "import_limit_kw") {
		t.Fatalf("default without a limit must fail naming the key")
	}
	cases := []struct {
		key string
		mut func(*policy.Config)
	}{
		{"policy.import_limit_kw", func(c *policy.Config) { c.ImportLimitKW = math.NaN() }},
		{"policy.margin_kw", func(c *policy.Config) { c.MarginKW = -1 }},
		{"policy.margin_kw", func(c *policy.Config) { c.MarginKW = 1000 }},
		{"policy.safe_floor_kw", func(c *policy.Config) { c.SafeFloorKW = 990 }},
		{"policy.stale_after", func(c *policy.Config) { c.StaleAfter = 0 }},
		{"policy.min_run", func(c *policy.Config) { c.MinRun = -1 }},
		{"policy.min_pause", func(c *policy.Config) { c.MinPause = -1 }},
		{"policy.restore_step_kw", func(c *policy.Config) { c.RestoreStepKW = 0 }},
		{"policy.restore_interval", func(c *policy.Config) { c.RestoreInterval = 0 }},
		{"policy.hysteresis_kw", func(c *policy.Config) { c.HysteresisKW = math.Inf(1) }},
		{"policy.confirm_after", func(c *policy.Config) { c.ConfirmAfter = 0 }},
		{"policy.telemetry_max_age", func(c *policy.Config) { c.TelemetryMaxAge = 0 }},
		{"policy.max_jump_kw", func(c *policy.Config) { c.MaxJumpKW = -1 }},
		{"policy.under_frequency_hz", func(c *policy.Config) { c.UnderFrequencyHz = 5 }},
		{"policy.under_frequency_hold", func(c *policy.Config) { c.UnderFrequencyHold = -1 }},
		{"policy.strike_price", func(c *policy.Config) { c.StrikePrice = -1 }},
		{"policy.dr_lead", func(c *policy.Config) { c.DRLead = -1 }},
		{"policy.throttle_deadband_kw", func(c *policy.Config) { c.ThrottleDeadbandKW = -1 }},
		{"policy.interval", func(c *policy.Config) { c.Interval = policy.Duration(time.Minute) }},
		{"policy.max_parallel", func(c *policy.Config) { c.MaxParallel = 0 }},
		{"policy.apply_timeout", func(c *policy.Config) { c.ApplyTimeout = 0 }},
	}
	for _, tc := range cases {
		c := valid()
		tc.mut(&c)
		err := c.Validate()
		var ce *policy.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !errors.Is(err, policy.ErrInvalidConfig) {
			t.Errorf("%s: got %v", tc.key, err)
		}
	}
}

func TestFleetValidateAndMatch(t *testing.T) {
	ok := policy.FleetGroup{Name: "g", Pattern: "rack1.*", Firmware: policy.FirmwareLuxOS, RatedKW: 3, EfficiencyJTH: 20}
	cases := []struct {
		key string
		mut func(*policy.FleetGroup)
	}{
		{"fleet[0].name", func(g *policy.FleetGroup) { g.Name = "" }},
		{"fleet[0].match", func(g *policy.FleetGroup) { g.Pattern = "" }},
		{"fleet[0].match", func(g *policy.FleetGroup) { g.Pattern = "rack[" }},
		{"fleet[0].firmware", func(g *policy.FleetGroup) { g.Firmware = "cgminer" }},
		{"fleet[0].rated_kw", func(g *policy.FleetGroup) { g.RatedKW = 0 }},
		{"fleet[0].efficiency_j_th", func(g *policy.FleetGroup) { g.EfficiencyJTH = math.NaN() }},
		{"fleet[0].max_kw", func(g *policy.FleetGroup) { g.MaxKW = 4 }},
		{"fleet[0].max_kw", func(g *policy.FleetGroup) { g.MaxKW = 2.5 }}, // no min_kw: it would do nothing
		{"fleet[0].min_kw", func(g *policy.FleetGroup) { g.MinKW = 3 }},
		{"fleet[0].min_kw", func(g *policy.FleetGroup) { g.Firmware, g.MinKW = policy.FirmwareAntminer, 1 }},
		{"fleet[0].port", func(g *policy.FleetGroup) { g.Port = 70000 }},
	}
	for _, tc := range cases {
		g := ok
		tc.mut(&g)
		err := policy.ValidateFleet([]policy.FleetGroup{g})
		var ce *policy.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s: got %v", tc.key, err)
		}
	}
	err := policy.ValidateFleet([]policy.FleetGroup{ok, ok})
	if err == nil || !strings.Contains(err.Error(), "fleet[1].name") {
		t.Fatalf("duplicate: %v", err)
	}

	cidr := policy.FleetGroup{Pattern: "10.9.0.0/24"}
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		g      policy.FleetGroup
		worker string
		ip     netip.Addr
		want   bool
	}{
		{ok, "rack1.m01", netip.Addr{}, true},
		{ok, "rack2.m01", netip.Addr{}, false},
		{ok, "acct.rack1.m01", netip.Addr{}, false},
		{cidr, "anything", ip("10.9.0.77"), true},
		{cidr, "anything", ip("::ffff:10.9.0.77"), true},
		{cidr, "anything", ip("10.9.1.1"), false},
		{cidr, "anything", netip.Addr{}, false},
	} {
		if got := tc.g.Match(tc.worker, tc.ip); got != tc.want {
			t.Errorf("%q.Match(%q, %v) = %v", tc.g.Pattern, tc.worker, tc.ip, got)
		}
	}
}
