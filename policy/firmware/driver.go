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
	// Reboot restarts the whole miner. It returns once the firmware took
	// the command: a rebooting miner has nothing to read back, and its
	// uptime (Status) starting again is the confirmation.
	Reboot(ctx context.Context, t Target) error
	// Locate switches the miner's locate LED (blinking) on or off, so a
	// technician can find it in the rack; read back where the firmware
	// reports the LED.
	Locate(ctx context.Context, t Target, on bool) error
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
	FieldBoardTemp
	FieldChipTemp
	FieldFans
	FieldBoards
	FieldUptime
)

// MaxFans bounds the fan speeds a Status carries; a fixed array keeps a
// status poll free of allocations at 100,000 miners. Miners have 2 to 4
// fans; readings past MaxFans are dropped.
const MaxFans = 8

// Status is a miner's state as its firmware reports it. Miner-reported watts
// are estimates (often 5-20% off the wall); the meter has the last word.
type Status struct {
	State        State
	PowerW       float64
	PowerTargetW float64
	HashrateTHs  float64
	// BoardTempC and ChipTempC are the hottest hashboard (PCB) and chip
	// sensors, in degrees Celsius.
	BoardTempC float64
	ChipTempC  float64
	// FansRPM holds FanCount fan speeds.
	FansRPM  [MaxFans]uint16
	FanCount uint8
	// BoardsWorking of BoardsTotal hashboards are hashing.
	BoardsWorking, BoardsTotal uint8
	// UptimeS is how long the miner (or its mining software, where the
	// firmware reports only that) has been up, in seconds.
	UptimeS int64
	// Known says which of the numbers above were reported.
	Known Field
}

// Has reports whether field f was reported.
func (s Status) Has(f Field) bool { return s.Known&f != 0 }

// Fans returns the reported fan speeds.
func (s *Status) Fans() []uint16 { return s.FansRPM[:s.FanCount] }

// AddFan records one fan speed (negative readings count as 0, readings
// past MaxFans are dropped) and marks FieldFans.
func (s *Status) AddFan(rpm float64) {
	s.Known |= FieldFans
	if int(s.FanCount) >= MaxFans {
		return
	}
	s.FansRPM[s.FanCount] = uint16(min(max(rpm, 0), 65535))
	s.FanCount++
}

// SetBoards records working of total hashboards, clamped to 0..255.
func (s *Status) SetBoards(working, total int) {
	total = min(max(total, 0), 255)
	s.BoardsWorking, s.BoardsTotal = uint8(min(max(working, 0), total)), uint8(total)
	s.Known |= FieldBoards
}

// JPerTH is the efficiency derived from the reported power and hashrate;
// false when either is missing or the miner is not hashing.
func (s Status) JPerTH() (float64, bool) {
	if !s.Has(FieldPower) || !s.Has(FieldHashrate) || s.HashrateTHs <= 0 {
		return 0, false
	}
	return s.PowerW / s.HashrateTHs, true
}

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
