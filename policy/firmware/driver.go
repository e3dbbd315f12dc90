package firmware

import (
	"context"
	"net"
	"strconv"
)

// Firmware names accepted by the registry and the config file.
const (
	LuxOS      = "luxos"
	Braiins    = "braiins"
	Whatsminer = "whatsminer"
	Bitaxe     = "bitaxe"
	VNish      = "vnish"
	Antminer   = "antminer"
	None       = "none"
)

// Driver controls one firmware family. Implementations are safe for
// concurrent use across many targets; commands to the same target are
// serialised inside the driver where the firmware needs it (one LuxOS
// session per miner, for example).
//
// Every write returns only after the change was read back; a write the
// firmware acknowledged but did not apply returns ErrNotConfirmed.
type Driver interface {
	// Firmware returns the registry name, e.g. "luxos".
	Firmware() string
	// Sleep stops hashing and cuts hashboard power where the firmware can.
	Sleep(ctx context.Context, t Target) error
	// Wake undoes Sleep.
	Wake(ctx context.Context, t Target) error
	// SetPowerTarget asks the miner to run at or below watts. Firmware that
	// only offers fixed steps picks the highest step not above watts;
	// firmware without any power control returns ErrUnsupported.
	SetPowerTarget(ctx context.Context, t Target, watts int) error
	// Status reads the miner's state as the firmware reports it.
	Status(ctx context.Context, t Target) (Status, error)
	// Capabilities says what this miner supports; it may ask the miner
	// (LuxOS profiles, Braiins constraints).
	Capabilities(ctx context.Context, t Target) (Capabilities, error)
}

// Target is one miner's control endpoint.
type Target struct {
	// ID names the miner in results and logs (worker name, serial, ...).
	ID string
	// Addr is host or host:port. Without a port the firmware's default
	// port applies, so the address a stratum connection comes from is
	// enough to find the miner's API.
	Addr string
	// Username and Password are the API credentials; which ones a firmware
	// uses is documented on its driver. Empty means the firmware default.
	Username string
	Password string
}

// hostPort returns t.Addr with the default port added when it has none.
func (t Target) hostPort(defaultPort int) string {
	if _, _, err := net.SplitHostPort(t.Addr); err == nil {
		return t.Addr
	}
	return net.JoinHostPort(t.Addr, strconv.Itoa(defaultPort))
}

// State is a miner's mining state as read from its firmware.
type State uint8

// States a driver can report.
const (
	StateUnknown State = iota
	StateRunning
	StateSleeping
)

func (s State) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateSleeping:
		return "sleeping"
	default:
		return "unknown"
	}
}

// Field marks which Status values the firmware actually reported.
type Field uint8

// Status fields.
const (
	FieldPower Field = 1 << iota
	FieldPowerTarget
	FieldHashrate
)

// Status is a miner's state as its firmware reports it. Miner-reported watts
// are estimates (often 5-20% off the wall); the meter has the last word.
type Status struct {
	State        State
	PowerW       float64
	PowerTargetW float64
	HashrateTHs  float64
	// Known says which of the numbers above were reported.
	Known Field
}

// Has reports whether field f was reported.
func (s Status) Has(f Field) bool { return s.Known&f != 0 }

// Capabilities describes what a miner's firmware can do.
type Capabilities struct {
	Sleep       bool
	PowerTarget bool
	// MinW and MaxW bound SetPowerTarget when PowerTarget is true.
	MinW, MaxW int
	// Steps lists the discrete power steps when the firmware only offers
	// tuned profiles or presets; empty for a continuous target.
	Steps []int
}

// DefaultPort returns the port a firmware's control API listens on by
// default, or 0 for an unknown name.
func DefaultPort(name string) int {
	switch name {
	case LuxOS, Whatsminer:
		return 4028
	case Braiins:
		return 50051
	case Bitaxe, VNish, Antminer:
		return 80
	default:
		return 0
	}
}
