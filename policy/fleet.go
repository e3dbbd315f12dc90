package policy

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"strings"
	"time"
)

// Firmware names the control API a group of miners speaks.
type Firmware string

// Firmware values accepted in [[fleet]] firmware.
const (
	FirmwareLuxOS      Firmware = "luxos"
	FirmwareBraiins    Firmware = "braiins"
	FirmwareWhatsminer Firmware = "whatsminer"
	FirmwareBitaxe     Firmware = "bitaxe"
	FirmwareVNish      Firmware = "vnish"
	FirmwareAntminer   Firmware = "antminer"
	FirmwareNone       Firmware = "none" // stratum gate only; no power control
)

// Valid reports whether f is a known firmware name.
func (f Firmware) Valid() bool {
	switch f {
	case FirmwareLuxOS, FirmwareBraiins, FirmwareWhatsminer, FirmwareBitaxe, FirmwareVNish,
		FirmwareAntminer, FirmwareNone:
		return true
	}
	return false
}

// SupportsPowerTarget reports whether the firmware takes an arbitrary watt target (Braiins
// SetPowerTarget, LuxOS powertargetset, Whatsminer set_power_pct). VNish only has tuned presets
// and stock Antminer only sleep/normal/LPM, so the engine treats them as on/off.
func (f Firmware) SupportsPowerTarget() bool {
	switch f {
	case FirmwareLuxOS, FirmwareBraiins:
		// Whatsminer's power limit cannot be read back (and set_power_pct is not confirmed),
		// so it is on/off only.
		return true
	}
	return false
}

// DefaultRamp is how long a firmware family takes from a command to its new draw, from the
// vendors' published figures: LuxOS sleeps in under 5 s and is back in under 10 s; Braiins OS
// ramps its power target over about 10 s; stock Antminer firmware can take ~21 s only to
// answer. The stratum gate alone ("none") does not cut power at all: its pause is counted as
// effective after confirm_after, and the site meter sees whatever the miner still draws.
func (f Firmware) DefaultRamp() time.Duration {
	switch f {
	case FirmwareLuxOS:
		return 10 * time.Second
	case FirmwareBraiins:
		return 15 * time.Second
	case FirmwareBitaxe:
		return 5 * time.Second
	case FirmwareWhatsminer, FirmwareVNish:
		return 20 * time.Second
	case FirmwareAntminer:
		return 30 * time.Second
	}
	return 0
}

// RampTime is the group's configured ramp, else its firmware's default.
func (g *FleetGroup) RampTime() time.Duration {
	if g.Ramp > 0 {
		return g.Ramp.D()
	}
	return g.Firmware.DefaultRamp()
}

// FleetGroup is one [[fleet]] section: miners sharing a hardware model and control API.
type FleetGroup struct {
	// Name identifies the group in decisions, pauses and the console.
	Name string `toml:"name"`
	// Pattern selects miners: a worker-name glob ("rack1.*", path.Match syntax) or an IP prefix
	// ("10.1.0.0/24").
	Pattern string `toml:"match"`
	// Firmware is the control API: luxos|braiins|whatsminer|bitaxe|vnish|antminer|none.
	Firmware Firmware `toml:"firmware"`
	// RatedKW is one miner's draw at full power.
	RatedKW float64 `toml:"rated_kw"`
	// EfficiencyJTH is joules per terahash; among equal priorities the least efficient sheds first.
	EfficiencyJTH float64 `toml:"efficiency_j_th"`
	// Priority orders shedding: lower sheds first.
	Priority int `toml:"priority"`
	// MinKW and MaxKW bound power targets where the firmware supports them. Zero MinKW means
	// on/off only (then MaxKW must be zero too); zero MaxKW means RatedKW. Below RatedKW,
	// MaxKW is the most a miner is ever given: restored or adopted, it is throttled to MaxKW.
	MinKW float64 `toml:"min_kw"`
	MaxKW float64 `toml:"max_kw"`
	// Ramp is how long this hardware takes from a command to its new draw (sleep, wake or a
	// power target); zero takes the firmware's default (DefaultRamp).
	Ramp Duration `toml:"ramp"`
	// Port overrides the firmware API's default port; zero keeps the default.
	Port int `toml:"port"`
	// Addresses maps a worker name to its control address (host or host:port) when the
	// address the miner connects from is not the one its API listens on. A listed worker's
	// firmware address is vouched for (see Vouched).
	Addresses map[string]string `toml:"addresses"`
	// Networks are the address ranges (CIDR, or single addresses) the group's miners connect
	// from. A worker name is only a claim any host on the network can make: the group's
	// credentials go only to a miner whose firmware address the operator vouched for, and only
	// such a miner's telemetry is taken as its measured draw. A miner of the group outside
	// them is still proxied and gated.
	Networks []string `toml:"networks"`
	// Username and Password log in to the firmware API; empty takes the firmware's default.
	Username string `toml:"username"`
	Password string `toml:"password"`
}

// HasCredentials reports whether the group logs in with a username or password of its own
// (the firmware's published default is no secret).
func (g *FleetGroup) HasCredentials() bool {
	return g.Username != "" || g.Password != ""
}

// VouchesForNone reports whether the group vouches for no miner's address: it matches by
// worker name with neither networks nor addresses, so no firmware of it is sent a login of
// its own and no reading from it is taken as proof or draw.
func (g *FleetGroup) VouchesForNone() bool {
	_, byIP := g.prefix()
	return !byIP && len(g.Networks) == 0 && len(g.Addresses) == 0
}

// Vouched reports whether the operator vouched for the firmware address of a miner with this
// worker name connecting from ip: it has a [fleet.addresses] entry, or ip is inside the
// group's match prefix or one of its networks.
func (g *FleetGroup) Vouched(worker string, ip netip.Addr) bool {
	if _, ok := g.Addresses[worker]; ok {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if p, ok := g.prefix(); ok && p.Contains(ip) {
		return true
	}
	for _, n := range g.Networks {
		if p, err := parseNetwork(n); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseNetwork reads one networks entry: a prefix ("10.1.0.0/24") or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err == nil && p.Addr().Is4In6() && p.Bits() >= 96 {
			// Sources are compared unmapped: "::ffff:10.1.0.0/120" is 10.1.0.0/24.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Match reports whether a miner with this worker name, connecting from ip, belongs to g.
// An IP-prefix pattern ignores the worker name; a glob ignores the address.
func (g *FleetGroup) Match(worker string, ip netip.Addr) bool {
	if p, ok := g.prefix(); ok {
		return ip.IsValid() && p.Contains(ip.Unmap())
	}
	ok, err := path.Match(g.Pattern, worker)
	return err == nil && ok
}

func (g *FleetGroup) prefix() (netip.Prefix, bool) {
	if !strings.Contains(g.Pattern, "/") {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(g.Pattern)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// Throttle returns the power-target range a miner of g supports; ok is false for on/off only.
func (g *FleetGroup) Throttle() (minKW, maxKW float64, ok bool) {
	if !g.Firmware.SupportsPowerTarget() || g.MinKW <= 0 {
		return 0, 0, false
	}
	maxKW = g.MaxKW
	if maxKW == 0 {
		maxKW = g.RatedKW
	}
	return g.MinKW, maxKW, true
}

// Validate checks one group; i is its index for the error key.
func (g *FleetGroup) Validate(i int) error {
	key := func(k string) string { return fmt.Sprintf("fleet[%d].%s", i, k) }
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case g.Name == "":
		return cfgErr(key("name"), "must be set")
	case g.Pattern == "":
		return cfgErr(key("match"), "must be set")
	case !g.Firmware.Valid():
		return cfgErr(key("firmware"), "unknown firmware %q (luxos|braiins|whatsminer|bitaxe|vnish|antminer|none)", g.Firmware)
	case bad(g.RatedKW) || g.RatedKW <= 0:
		return cfgErr(key("rated_kw"), "must be > 0")
	case bad(g.EfficiencyJTH) || g.EfficiencyJTH <= 0:
		return cfgErr(key("efficiency_j_th"), "must be > 0")
	case bad(g.MinKW) || g.MinKW < 0:
		return cfgErr(key("min_kw"), "must be >= 0")
	case bad(g.MaxKW) || g.MaxKW < 0 || g.MaxKW > g.RatedKW:
		return cfgErr(key("max_kw"), "must be within 0..rated_kw")
	case g.MinKW > 0 && !g.Firmware.SupportsPowerTarget():
		return cfgErr(key("min_kw"), "firmware %q has no power target", g.Firmware)
	case g.MinKW > 0 && g.MinKW >= max(g.MaxKW, g.RatedKW):
		return cfgErr(key("min_kw"), "must be below max_kw")
	case g.MaxKW > 0 && g.MinKW == 0:
		// Without a power-target range the miner is on/off: max_kw would do nothing.
		return cfgErr(key("max_kw"), "caps power targets, so it needs min_kw; an on/off miner (min_kw 0) runs at rated_kw")
	case g.Ramp < 0:
		return cfgErr(key("ramp"), "must be >= 0 (0 takes the firmware's default)")
	case g.Port < 0 || g.Port > 65535:
		return cfgErr(key("port"), "must be 0..65535")
	}
	if strings.Contains(g.Pattern, "/") {
		if _, ok := g.prefix(); !ok {
			if _, err := path.Match(g.Pattern, ""); err != nil {
				return cfgErr(key("match"), "neither an IP prefix nor a valid glob: %v", err)
			}
		}
	} else if _, err := path.Match(g.Pattern, ""); err != nil {
		return cfgErr(key("match"), "invalid glob: %v", err)
	}
	for w, a := range g.Addresses {
		if w == "" || a == "" {
			return cfgErr(key("addresses"), "empty worker or address")
		}
	}
	for j, n := range g.Networks {
		p, err := parseNetwork(n)
		switch {
		case err != nil:
			return cfgErr(fmt.Sprintf("%s[%d]", key("networks"), j), "%q is neither a CIDR prefix nor an address", n)
		case p.Bits() == 0:
			return cfgErr(fmt.Sprintf("%s[%d]", key("networks"), j), "%q vouches for every address; list the ranges the miners are in", n)
		}
	}
	if g.HasCredentials() && g.Firmware != FirmwareNone && g.VouchesForNone() {
		// A worker name proves nothing: any host that connects with a matching name would be
		// sent the login (in clear text for VNish and Braiins OS).
		return cfgErr(key("networks"), "must be set: the group has a username or password and matches by worker name alone, "+
			"so any host naming a matching worker would be sent them; list the address ranges its miners connect from "+
			"(or match an IP prefix, or give each worker a [fleet.addresses] entry)")
	}
	return nil
}

// ValidateFleet checks every group and that names are unique.
func ValidateFleet(groups []FleetGroup) error {
	seen := make(map[string]int, len(groups))
	for i := range groups {
		if err := groups[i].Validate(i); err != nil {
			return err
		}
		if j, dup := seen[groups[i].Name]; dup {
			return cfgErr(fmt.Sprintf("fleet[%d].name", i), "duplicate of fleet[%d]", j)
		}
		seen[groups[i].Name] = i
	}
	return nil
}

// MatchGroup returns the first group matching the miner, in configuration order.
func MatchGroup(groups []FleetGroup, worker string, ip netip.Addr) (*FleetGroup, bool) {
	for i := range groups {
		if groups[i].Match(worker, ip) {
			return &groups[i], true
		}
	}
	return nil, false
}

// NewMiner builds the engine's view of a miner in group g. The caller fills the commanded
// state and measurements.
func (g *FleetGroup) NewMiner(id, worker string) Miner {
	m := Miner{
		ID: id, Worker: worker, Group: g.Name, Priority: g.Priority,
		RatedKW: g.RatedKW, EfficiencyJTH: g.EfficiencyJTH, Ramp: g.RampTime(),
	}
	if lo, hi, ok := g.Throttle(); ok {
		m.Throttle = ThrottleRange{MinKW: lo, MaxKW: hi}
	}
	return m
}
