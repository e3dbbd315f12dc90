package policy

import (
	"fmt"
	"time"
)

// Reason says why a decision was taken or what set the budget.
type Reason uint8

// Reasons. The first group are safety reasons: sheds for them ignore min_run.
const (
	ReasonNone           Reason = iota
	ReasonOverBudget            // mining would exceed limit - non-mining load - margin
	ReasonSafeFloor             // a meter is stale, missing or implausible
	ReasonUnderFrequency        // grid frequency below under_frequency_hz
	ReasonEscalation            // an earlier shed was not confirmed by the meter
	ReasonManualCap             // operator cap on mining power
	ReasonDemandResponse        // a DR event lowers the site import target
	ReasonGroupPaused           // operator paused the miner's group
	ReasonBadMiner              // the miner's rated power or efficiency is not usable
	ReasonPrice                 // economic: price above strike_price (min_run applies)
	ReasonRestore               // headroom allows adding power back
	ReasonAdopt                 // a newly seen miner fits the budget and keeps running
	reasonEnd
)

var reasonNames = [reasonEnd]string{
	"none", "over_budget", "safe_floor", "under_frequency", "escalation", "manual_cap",
	"demand_response", "group_paused", "bad_miner", "price", "restore", "adopt",
}

var reasonText = [reasonEnd]string{
	"",
	"mining exceeds import limit minus non-mining load and margin",
	"a meter is stale, missing or implausible: fleet held at safe floor",
	"grid under-frequency: everything off",
	"earlier shed not confirmed by the meter: shedding further",
	"operator cap on mining power",
	"demand-response event lowers the import target",
	"group paused by operator",
	"miner's rated power or efficiency unusable",
	"price above strike",
	"headroom allows more mining",
	"running miner adopted within budget",
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
func (r Reason) Safety() bool { return r >= ReasonOverBudget && r <= ReasonBadMiner }

// Mode is the engine's overall state.
type Mode uint8

// Modes.
const (
	ModeNormal    Mode = iota // follow the budget
	ModeSafeFloor             // a meter cannot be trusted: at most safe_floor_kw
	ModeTrip                  // under-frequency: everything off until the hold expires
)

var modeNames = [...]string{"normal", "safe_floor", "trip"}

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
	// Binding is the constraint that set BudgetKW.
	Binding Reason
	// Faults lists meters that are stale, missing or implausible (bit 1<<Role).
	Faults       RoleSet
	ImportKW     float64
	AILoadKW     float64
	MiningLoadKW float64
	FrequencyHz  float64
	Price        float64
	// NonMiningKW is the load mining competes with, from NonMiningFrom: RoleMiningLoad
	// (import - mining sub-meter), RoleAILoad, or RoleSiteImport (import - estimated mining).
	NonMiningKW   float64
	NonMiningFrom Role
	// LimitKW is the effective import limit (a DR event lowers it).
	LimitKW float64
	// BudgetKW is what mining may draw after this step.
	BudgetKW float64
	// CommittedKW is the mining power commanded after this step.
	CommittedKW float64
	// EscalationKW is budget withheld because earlier sheds were not confirmed.
	EscalationKW float64
}

// RoleSet is a set of meter roles.
type RoleSet uint8

// Has reports whether r is in the set.
func (s RoleSet) Has(r Role) bool { return s&(1<<r) != 0 }

func (s *RoleSet) add(r Role) { *s |= 1 << r }

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

// Shed reports whether the decision lowers the miner's power.
func (d *Decision) Shed() bool { return d.TargetKW < d.FromKW }

func (d Decision) String() string {
	return fmt.Sprintf("%s %s %.3f->%.3f kW: %s (budget %.1f kW, import %.1f kW, non-mining %.1f kW from %s, mode %s)",
		d.MinerID, d.Action, d.FromKW, d.TargetKW, d.Reason.Text(), d.Basis.BudgetKW,
		d.Basis.ImportKW, d.Basis.NonMiningKW, d.Basis.NonMiningFrom, d.Basis.Mode)
}

// NoteKind classifies an engine note.
type NoteKind uint8

// Note kinds.
const (
	NoteModeChanged NoteKind = iota + 1
	NoteMeterFault
	NoteMeterRecovered
	NoteShedConfirmed
	NoteEscalated
	NoteEscalationReleased
)

var noteNames = [...]string{"", "mode_changed", "meter_fault", "meter_recovered", "shed_confirmed", "escalated", "escalation_released"}

func (k NoteKind) String() string {
	if int(k) < len(noteNames) {
		return noteNames[k]
	}
	return fmt.Sprintf("note(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k NoteKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Note is something the engine noticed that is not a decision: a mode change, a meter fault,
// a confirmation or an escalation.
type Note struct {
	Kind  NoteKind
	Role  Role    // for meter notes
	Fault Fault   // for meter notes
	Mode  Mode    // for mode changes: the new mode
	KW    float64 // expected/observed drop or escalation amount
}

// Output is what one step emits.
type Output struct {
	Decisions []Decision
	Notes     []Note
	Basis     Basis
}
