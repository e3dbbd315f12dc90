package policy

import (
	"fmt"
	"math"
	"time"
)

// Plausible grid frequency; readings outside are nonsense (no 50/60 Hz grid runs there).
const (
	minPlausibleHz = 40.0
	maxPlausibleHz = 70.0
)

// Fault is why a meter is not trusted.
type Fault uint8

// Faults.
const (
	FaultNone     Fault = iota
	FaultMissing        // never reported
	FaultStale          // last good reading older than stale_after
	FaultNonsense       // NaN/Inf, negative where impossible, out of physical range, from the future
	FaultJump           // moved more than max_jump_kw; waits for a second reading to confirm
)

var faultNames = [...]string{"none", "missing", "stale", "nonsense", "jump"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", uint8(f))
}

// MarshalText implements encoding.TextMarshaler.
func (f Fault) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// meterState tracks one role across steps.
type meterState struct {
	seen      bool
	processed time.Time // At of the last reading examined
	good      Reading   // last accepted reading
	suspect   Reading   // a jump waiting for confirmation
	bad       Fault     // FaultNonsense or FaultJump from the last reading examined
}

func isPowerRole(r Role) bool {
	return r == RoleSiteImport || r == RoleAILoad || r == RoleMiningLoad
}

// safetyRole reports whether a fault of r must put the fleet at the safe floor. Price is
// advisory: a stale price only disables the strike rule.
func safetyRole(r Role) bool { return r != RolePrice }

// plausible checks a single value against what the role can physically be.
func plausible(cfg *Config, r Role, v float64, at, now time.Time) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if at.Sub(now) > cfg.StaleAfter.D() { // from the future: a broken clock
		return false
	}
	switch r {
	case RoleSiteImport:
		return v >= 0 || cfg.AllowExport
	case RoleAILoad, RoleMiningLoad:
		return v >= 0
	case RoleFrequency:
		return v >= minPlausibleHz && v <= maxPlausibleHz
	}
	return true
}

// observe folds the role's latest reading into ms.
func (ms *meterState) observe(cfg *Config, r Role, rd Reading, ok bool, now time.Time) {
	if !ok || !rd.At.After(ms.processed) {
		return
	}
	ms.seen = true
	ms.processed = rd.At
	if !plausible(cfg, r, rd.Value, rd.At, now) {
		ms.bad = FaultNonsense
		return
	}
	if isPowerRole(r) && !ms.good.At.IsZero() && math.Abs(rd.Value-ms.good.Value) > cfg.maxJump() {
		if !ms.suspect.At.IsZero() && math.Abs(rd.Value-ms.suspect.Value) <= cfg.maxJump() {
			ms.accept(rd) // two readings agree on the new level: it is real
			return
		}
		ms.suspect = rd
		ms.bad = FaultJump
		return
	}
	ms.accept(rd)
}

func (ms *meterState) accept(rd Reading) {
	ms.good = rd
	ms.suspect = Reading{}
	ms.bad = FaultNone
}

// fault is the meter's health at now.
func (ms *meterState) fault(cfg *Config, now time.Time) Fault {
	switch {
	case !ms.seen:
		return FaultMissing
	case ms.bad != FaultNone:
		return ms.bad
	case ms.good.At.IsZero() || now.Sub(ms.good.At) > cfg.StaleAfter.D():
		return FaultStale
	}
	return FaultNone
}
