package policy

import (
	"fmt"
	"time"
)

// Reason says why a decision was taken or what set the budget.
type Reason uint8

// Reasons. The first group are safety reasons: sheds for them ignore min_run.
const (
	ReasonNone           Reason = iota // as a binding: every proven miner runs, nothing limits mining
	ReasonImportLimit                  // mining would push site import above the limit minus margin
	ReasonSafeFloor                    // the site meter is stale, missing or implausible
	ReasonUnderFrequency               // grid frequency below under_frequency_hz
	ReasonManualCap                    // operator cap on mining power
	ReasonDemandResponse               // a DR event lowers the site import target
	ReasonGroupPaused                  // operator paused the miner's group
	ReasonOperatorHold                 // operator paused this miner
	ReasonBadMiner                     // the miner's rated power or efficiency is not usable
	ReasonPrice                        // economic: price above strike_price (min_run applies)
	ReasonRestore                      // headroom allows adding power back
	ReasonAdopt                        // a newly proven miner fits the budget and keeps running
	reasonEnd
)

var reasonNames = [reasonEnd]string{
	"none", "import_limit", "safe_floor", "under_frequency", "manual_cap",
	"demand_response", "group_paused", "operator_hold", "bad_miner", "price", "restore", "adopt",
}

var reasonText = [reasonEnd]string{
	"every proven miner runs: nothing limits mining",
	"site import would exceed the import limit minus margin",
	"the site meter cannot be trusted: fleet held at safe floor",
	"grid under-frequency: everything off",
	"operator cap on mining power",
	"demand-response event lowers the import target",
	"group paused by operator",
	"miner paused by operator",
	"miner's rated power or efficiency unusable",
	"price above strike",
	"headroom allows more mining",
	"proven miner adopted within budget",
}

func (r Reason) String() string {
	if r < reasonEnd {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Text is a sentence for logs and the console.
func (r Reason) Text() string {
	if r < reasonEnd {
		return reasonText[r]
	}
	return r.String()
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Safety reports whether a shed for r may bypass min_run.
func (r Reason) Safety() bool { return r >= ReasonImportLimit && r <= ReasonBadMiner }

// Mode is the engine's overall state.
type Mode uint8

// Modes.
const (
	ModeNormal    Mode = iota // follow the budget; site import within its limit
	ModeOverLimit             // the site meter reads above the import limit: shedding
	ModeSafeFloor             // the site meter cannot be trusted: at most safe_floor_kw
	ModeTrip                  // under-frequency: everything off until the hold expires
)

var modeNames = [...]string{"normal", "over_limit", "safe_floor", "trip"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Basis is what a step saw and computed; every decision carries it so the audit trail says
// why. Values whose meter is unknown are zero and named in Faults.
type Basis struct {
	At   time.Time
	Mode Mode
	// OverLimitS is how long the site meter has read above the limit (ModeOverLimit).
	OverLimitS float64
	// Binding is the constraint that set BudgetKW; ReasonNone when the whole proven fleet
	// fits under it.
	Binding Reason
	// Faults lists meters that are stale, missing or implausible (bit 1<<Role).
	Faults       RoleSet
	ImportKW     float64
	AILoadKW     float64
	MiningLoadKW float64
	FrequencyHz  float64
	Price        float64
	// MiningEstKW is the engine's estimate of what the proven fleet draws now: telemetry
	// where fresh, commands still ramping at their earlier draw, the rest as commanded.
	MiningEstKW float64
	// InFlightKW is how much of MiningEstKW is commanded away but not yet confirmed.
	InFlightKW float64
	// UnconfirmedKW is what miners draw beyond their settled command, by their telemetry:
	// counted against the budget, so other miners shed for it.
	UnconfirmedKW float64
	// NonMiningKW is the load mining competes with, and NonMiningFrom the meter that set it:
	// RoleSiteImport (import - mining estimate), RoleMiningLoad (import - mining sub-meter,
	// when that reads less than the estimate) or RoleAILoad (the AI meter reads more than
	// the site meter leaves for it).
	NonMiningKW   float64
	NonMiningFrom Role
	// LimitKW is the effective import limit (a DR event lowers it).
	LimitKW float64
	// BudgetKW is what mining may draw after this step.
	BudgetKW float64
	// CommittedKW is the mining power commanded after this step (plus UnconfirmedKW).
	CommittedKW float64
	// FleetKW is the rated power of every proven miner the policy may run.
	FleetKW float64
}

// Why is a sentence with the numbers behind reason r under this basis.
func (b *Basis) Why(r Reason) string {
	switch r {
	case ReasonImportLimit:
		return fmt.Sprintf("site import %.1f kW (limit %.1f kW); non-mining load %.1f kW from %s leaves %.1f kW for mining",
			b.ImportKW, b.LimitKW, b.NonMiningKW, nonMiningSource(b.NonMiningFrom), b.BudgetKW)
	case ReasonDemandResponse:
		return fmt.Sprintf("demand-response target %.1f kW; non-mining load %.1f kW leaves %.1f kW for mining",
			b.LimitKW, b.NonMiningKW, b.BudgetKW)
	case ReasonSafeFloor:
		return fmt.Sprintf("meters at fault (%s): mining held at %.1f kW", b.Faults, b.BudgetKW)
	case ReasonManualCap:
		return fmt.Sprintf("operator cap %.1f kW", b.BudgetKW)
	case ReasonRestore, ReasonAdopt:
		return fmt.Sprintf("budget %.1f kW, committed %.1f kW of %.1f kW", b.BudgetKW, b.CommittedKW, b.FleetKW)
	case ReasonNone:
		return fmt.Sprintf("budget %.1f kW covers the whole proven fleet (%.1f kW)", b.BudgetKW, b.FleetKW)
	}
	return r.Text()
}

func nonMiningSource(r Role) string {
	switch r {
	case RoleSiteImport:
		return "site import minus the mining estimate"
	case RoleMiningLoad:
		return "site import minus the mining sub-meter"
	case RoleAILoad:
		return "the AI meter"
	}
	return "no meter"
}

// RoleSet is a set of meter roles.
type RoleSet uint8

// Has reports whether r is in the set.
func (s RoleSet) Has(r Role) bool { return s&(1<<r) != 0 }

func (s *RoleSet) add(r Role) { *s |= 1 << r }

func (s RoleSet) String() string {
	var b []byte
	for _, r := range s.Roles() {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, r.String()...)
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// Roles lists the members in role order.
func (s RoleSet) Roles() []Role {
	var out []Role
	for _, r := range Roles() {
		if s.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// Decision tells one miner what to do.
type Decision struct {
	MinerID string
	Group   string
	Action  Action
	// TargetKW is the power the miner should draw: RatedKW for Run, the target for Throttle,
	// zero for Pause.
	TargetKW float64
	// FromKW is what the engine believed it drew before.
	FromKW float64
	Reason Reason
	Basis  Basis
}

// Why is the decision's reason with its numbers, for the audit trail and the console.
func (d *Decision) Why() string { return d.Basis.Why(d.Reason) }

// Shed reports whether the decision lowers the miner's power.
func (d *Decision) Shed() bool { return d.TargetKW < d.FromKW }

func (d Decision) String() string {
	return fmt.Sprintf("%s %s %.3f->%.3f kW: %s (%s; mode %s)",
		d.MinerID, d.Action, d.FromKW, d.TargetKW, d.Reason, d.Why(), d.Basis.Mode)
}

// NoteKind classifies an engine note.
type NoteKind uint8

// Note kinds.
const (
	NoteModeChanged NoteKind = iota + 1
	NoteMeterFault
	NoteMeterRecovered
	NoteShedUnconfirmed // miners draw more than their settled commands (KW): shedding elsewhere
	NoteShedConfirmed   // the unconfirmed draw is gone
)

var noteNames = [...]string{"", "mode_changed", "meter_fault", "meter_recovered", "shed_unconfirmed", "shed_confirmed"}

func (k NoteKind) String() string {
	if int(k) < len(noteNames) {
		return noteNames[k]
	}
	return fmt.Sprintf("note(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k NoteKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Note is something the engine noticed that is not a decision: a mode change, a meter fault,
// or miners that did not shed as commanded.
type Note struct {
	Kind  NoteKind
	Role  Role    // for meter notes
	Fault Fault   // for meter notes
	Mode  Mode    // for mode changes: the new mode
	KW    float64 // unconfirmed draw
}

// Output is what one step emits.
type Output struct {
	Decisions []Decision
	Notes     []Note
	Basis     Basis
}
