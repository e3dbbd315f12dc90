package policy

import (
	"fmt"
	"time"
)

// Role is what a meter measures, from the policy's point of view.
type Role uint8

// Meter roles. Power roles are in kW; frequency in Hz; price in currency per MWh.
const (
	RoleSiteImport Role = iota + 1 // grid import at the point of connection (the limited quantity)
	RoleAILoad                     // the non-mining load that competes for the limit
	RoleMiningLoad                 // a sub-meter on the mining feeder
	RolePrice                      // energy price signal
	RoleFrequency                  // grid frequency
	roleEnd
)

var roleNames = [roleEnd]string{"", "site_import", "ai_load", "mining_load", "price", "frequency"}

// Roles lists every valid role in order.
func Roles() []Role {
	return []Role{RoleSiteImport, RoleAILoad, RoleMiningLoad, RolePrice, RoleFrequency}
}

func (r Role) String() string {
	if r.Valid() {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r > 0 && r < roleEnd }

// ParseRole parses the TOML/trace spelling of a role.
func ParseRole(s string) (Role, error) {
	for r := RoleSiteImport; r < roleEnd; r++ {
		if roleNames[r] == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("policy: unknown meter role %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("policy: invalid role %d", uint8(r))
	}
	return []byte(roleNames[r]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Reading is one meter sample. At is when the meter took it, not when it arrived.
type Reading struct {
	Role  Role
	Value float64
	At    time.Time
}

// Readings holds the latest reading per role; a zero At means the role has never reported.
type Readings struct {
	byRole [roleEnd]Reading
}

// Set stores r as its role's latest reading if it is newer than the one held.
// It reports whether r was stored.
func (rs *Readings) Set(r Reading) bool {
	if !r.Role.Valid() || r.At.IsZero() {
		return false
	}
	if cur := rs.byRole[r.Role]; !cur.At.IsZero() && !r.At.After(cur.At) {
		return false
	}
	rs.byRole[r.Role] = r
	return true
}

// Get returns the latest reading for role.
func (rs *Readings) Get(role Role) (Reading, bool) {
	if !role.Valid() {
		return Reading{}, false
	}
	r := rs.byRole[role]
	return r, !r.At.IsZero()
}

// ThrottleRange is the power-target range of a miner; zero means on/off only.
type ThrottleRange struct {
	MinKW float64
	MaxKW float64
}

// Supported reports whether the miner takes power targets.
func (t ThrottleRange) Supported() bool { return t.MinKW > 0 && t.MaxKW > t.MinKW }

// Action is what a decision tells a miner to do.
type Action uint8

// Actions. The zero value is ActionUnknown: a miner whose state hashgate does not know yet
// (just connected) is treated as drawing full power until commanded.
const (
	ActionUnknown  Action = iota
	ActionRun             // full power
	ActionPause           // sleep/pause via firmware and gate closed
	ActionThrottle        // run at a power target
)

var actionNames = [...]string{"unknown", "run", "pause", "throttle"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Command is a miner's commanded state and when it began. Since changes only when Action
// changes (a new power target keeps the run time running); Changed and FromKW describe the
// latest change of action or target, so that a command still ramping is not yet counted as
// effective.
type Command struct {
	Action   Action
	TargetKW float64 // for ActionThrottle
	Since    time.Time
	// Changed is when the latest change (action or target) was issued; zero for a command
	// restored from an earlier run, which counts as long effective.
	Changed time.Time
	// FromKW is what the engine estimated the miner drew just before that change.
	FromKW float64
	// Pending says the firmware has not acknowledged the command yet (queued behind
	// max_parallel, in flight, or waiting to be retried): it is not taken as done however
	// long that takes. Changed is when it was sent, or decided while it waits its turn.
	Pending bool
	// Refused says the firmware refused (or did not answer) this pending command twice in a
	// row; it is being retried. A refused shed is counted at what the miner drew before it in
	// what the budget has committed too, so that other miners make room for a sleep that may
	// never land (wrong credentials, a dead firmware API). A single failure is left to its
	// retry: shedding others for it would over-shed for min_pause.
	Refused bool
}

// Miner is the engine's view of one miner.
type Miner struct {
	ID            string
	Worker        string
	Group         string
	Priority      int     // lower sheds first
	RatedKW       float64 // full power
	EfficiencyJTH float64 // J/TH; among equal priorities the highest sheds first
	Throttle      ThrottleRange
	// Ramp is how long the miner's firmware takes to reach a commanded power; until then (or
	// until telemetry shows the new draw) a shed miner is counted as still drawing. Zero means
	// confirm_after. The engine never waits longer than confirm_after.
	Ramp time.Duration
	// Proven says the session is a real, working miner: it submitted valid shares recently or
	// its firmware reports it. Unproven sessions get no budget and never displace proven
	// miners; whatever they draw is seen by the site meter as other load.
	Proven bool
	// OperatorHold keeps the miner paused whatever the budget (a console pause).
	OperatorHold bool
	// Commanded is the last command issued (the Runner maintains it).
	Commanded Command
	// MeasuredKW is the miner's own power report or PDU outlet reading, valid when MeasuredAt
	// is not zero and within telemetry_max_age.
	MeasuredKW float64
	MeasuredAt time.Time
}

// DREvent is a demand-response event: between Start and End the site import must stay at or
// below TargetKW.
type DREvent struct {
	ID       string
	Start    time.Time
	End      time.Time
	TargetKW float64
}

// Manual holds operator controls.
type Manual struct {
	// CapKW limits total mining power until CapUntil; zero CapUntil means no cap.
	CapKW    float64
	CapUntil time.Time
	// PausedGroups stay off whatever the budget.
	PausedGroups []string
	// DR lists scheduled and active demand-response events.
	DR []DREvent
}

// Input is everything one Step sees.
type Input struct {
	Now      time.Time
	Readings Readings
	Fleet    []Miner
	Manual   Manual
}
