package firmware

import (
	"context"
	"fmt"
	"sort"
)

// Factory builds a driver from a validated config.
type Factory func(cfg *Config) Driver

// factories maps firmware names to drivers; fixed at build time.
var factories = map[string]Factory{
	LuxOS:      newLuxOS,
	Braiins:    newBraiins,
	Whatsminer: newWhatsminer,
	Bitaxe:     newBitaxe,
	VNish:      newVNish,
	Antminer:   newAntminer,
	None:       func(*Config) Driver { return noneDriver{} },
}

// Names returns the firmware names the registry knows, sorted.
func Names() []string {
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New returns the driver for a firmware name. A nil cfg means
// DefaultConfig().
func New(name string, cfg *Config) (Driver, error) {
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFirmware, name)
	}
	c, err := cfg.orDefault()
	if err != nil {
		return nil, fmt.Errorf("firmware config: %w", err)
	}
	return f(c), nil
}

// Registry holds one driver per firmware name, built on first use, so a
// fleet shares sessions and tokens per firmware.
type Registry struct {
	cfg     *Config
	drivers map[string]Driver
}

// NewRegistry builds every driver with cfg (nil means DefaultConfig()).
func NewRegistry(cfg *Config) (*Registry, error) {
	c, err := cfg.orDefault()
	if err != nil {
		return nil, fmt.Errorf("firmware config: %w", err)
	}
	r := &Registry{cfg: c, drivers: make(map[string]Driver, len(factories))}
	for n, f := range factories {
		r.drivers[n] = f(c)
	}
	return r, nil
}

// Driver returns the driver for name.
func (r *Registry) Driver(name string) (Driver, error) {
	d, ok := r.drivers[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFirmware, name)
	}
	return d, nil
}

// SessionCloser is implemented by drivers that hold sessions on miners
// (LuxOS); CloseSessions releases them.
type SessionCloser interface {
	CloseSessions(ctx context.Context) error
}

// noneDriver stands for a miner without a control channel: nothing can be
// written, nothing read. The policy must fall back to the stratum gate and
// treat the shed as unconfirmed.
type noneDriver struct{}

func (noneDriver) Firmware() string                                  { return None }
func (noneDriver) Sleep(context.Context, Target) error               { return ErrUnsupported }
func (noneDriver) Wake(context.Context, Target) error                { return ErrUnsupported }
func (noneDriver) SetPowerTarget(context.Context, Target, int) error { return ErrUnsupported }
func (noneDriver) Reboot(context.Context, Target) error              { return ErrUnsupported }
func (noneDriver) Locate(context.Context, Target, bool) error        { return ErrUnsupported }
func (noneDriver) Status(context.Context, Target) (Status, error) {
	return Status{}, ErrUnsupported
}
func (noneDriver) Capabilities(context.Context, Target) (Capabilities, error) {
	return Capabilities{}, nil
}
