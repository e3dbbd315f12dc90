package policy

import (
	"context"
	"errors"
)

// Actuator carries out decisions. The proxy gate (stop handing out jobs) and the firmware
// drivers (sleep, wake, power target) implement it; Chain combines them.
type Actuator interface {
	// Apply makes miner d.MinerID do d.Action (at d.TargetKW for ActionThrottle) and returns
	// once the device acknowledged it; drivers read the state back where the firmware allows.
	// ctx carries apply_timeout and is cancelled when the Runner stops. The Runner calls Apply
	// concurrently for different miners, at most max_parallel at once, and never twice at once
	// for the same miner. An error leaves the miner in an unknown state, which the engine
	// treats as drawing full power, so it decides again.
	Apply(ctx context.Context, d Decision) error
}

// Planner is an Actuator that also takes each step's decisions all at once, synchronously and
// before any Apply, so that what acts instantly (the proxy gate) acts on a 10,000-miner shed
// in one pass instead of waiting for max_parallel firmware calls. Plan must not block.
type Planner interface {
	Actuator
	Plan(ds []Decision)
}

// ActuatorFunc adapts a function to Actuator.
type ActuatorFunc func(ctx context.Context, d Decision) error

// Apply calls f.
func (f ActuatorFunc) Apply(ctx context.Context, d Decision) error { return f(ctx, d) }

// Chain returns an Actuator that applies every actuator in order and joins their errors.
// Later actuators run even when an earlier one failed: a closed gate is still worth having
// when the firmware call failed. Order them gate first for the usual case; the chain does not
// reorder by action.
func Chain(as ...Actuator) Actuator {
	return ActuatorFunc(func(ctx context.Context, d Decision) error {
		var errs []error
		for _, a := range as {
			if err := a.Apply(ctx, d); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}
