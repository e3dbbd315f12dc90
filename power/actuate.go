package power

import (
	"context"
	"errors"
	"sort"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
)

// Plan implements policy.Planner: it takes a step's decisions before any of them is applied
// and sets the policy hold of every pause at once, so a 10,000-miner shed closes every gate in
// one pass instead of waiting for max_parallel firmware calls. A miner held since the previous
// run is now the policy's: its restart hold becomes a policy hold, which a confirmed run
// clears. A run or throttle planned for a miner that already carries it out (confirmed by its
// last Apply) lifts the policy hold at once: it withdraws a pause that was planned but never
// applied (a site leader that died between its plan and its order), and the miner draws its
// power anyway. Plan does no I/O beyond the in-memory gate.
func (c *Controller) Plan(ds []policy.Decision) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range ds {
		d := &ds[i]
		m := c.minerLocked(d.MinerID)
		m.want = d.Action
		h := m.holds
		if h&HoldRestart != 0 {
			h = h&^HoldRestart | HoldPolicy
		}
		if d.Action == policy.ActionPause {
			h |= HoldPolicy
		} else if m.hasApplied && m.applied.Action == d.Action && m.applied.TargetKW == d.TargetKW {
			h &^= HoldPolicy
		}
		if h != m.holds {
			c.setHoldsLocked(d.MinerID, m, h, now)
		}
	}
}

// Apply implements policy.Actuator: the firmware command (what actually cuts an ASIC's power;
// a paused job stream alone does not), then the gate: a pause was gated by Plan already; a run
// or throttle opens it only once the firmware confirmed it, and only if no other hold remains.
// Miners without a control channel (firmware none, or an IP shared with other workers) get the
// gate alone.
func (c *Controller) Apply(ctx context.Context, d policy.Decision) error {
	c.mu.Lock()
	m := c.minerLocked(d.MinerID)
	if d.Action == policy.ActionPause && m.holds&HoldPolicy == 0 {
		c.setHoldsLocked(d.MinerID, m, m.holds|HoldPolicy, c.clk.Now()) // Plan was not called (a plain Runner)
	}
	ctl := m.controllable()
	var g *policy.FleetGroup
	var t firmware.Target
	if ctl {
		g, t = m.group, target(d.MinerID, m)
	} else {
		c.withheldCallLocked(m, commandName(d.Action))
	}
	c.mu.Unlock()

	if ctl {
		drv, err := c.fw.Driver(string(g.Firmware))
		if err == nil {
			c.commands.Add(1)
			err = c.command(ctx, drv, t, d, g)
		}
		c.mu.Lock()
		c.countLocked(string(g.Firmware), commandName(d.Action), err)
		if err == nil && !m.unvouched { // an address not vouched for proves nothing
			if now := c.clk.Now(); now.After(m.firmware) {
				m.firmware = now // it answered and confirmed: real hardware
			}
		}
		c.mu.Unlock()
		if err != nil {
			return err // the gate stays as it is; the Runner re-decides the miner as unknown
		}
	}
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	m.applied, m.hasApplied = policy.Command{Action: d.Action, TargetKW: d.TargetKW, Since: now}, true
	if d.Action != policy.ActionPause && m.want != policy.ActionPause {
		lift := HoldPolicy | HoldSafety
		if m.slept { // the throttle was carried out by sleeping: the safety hold stays
			lift = HoldPolicy
		}
		c.setHoldsLocked(d.MinerID, m, m.holds&^lift, now)
	}
	m.slept = false
	return nil
}

// command carries a decision out through one firmware driver.
func (c *Controller) command(ctx context.Context, drv firmware.Driver, t firmware.Target, d policy.Decision, g *policy.FleetGroup) error {
	switch d.Action {
	case policy.ActionPause:
		return drv.Sleep(ctx, t)
	case policy.ActionRun:
		if err := drv.Wake(ctx, t); err != nil {
			return err
		}
		if w, ok := c.runTarget(d.MinerID, g); ok {
			// Back to full power after a throttle, or to the operator's power profile.
			return drv.SetPowerTarget(ctx, t, w)
		}
		return nil
	case policy.ActionThrottle:
		if err := drv.Wake(ctx, t); err != nil {
			return err
		}
		err := drv.SetPowerTarget(ctx, t, c.capTarget(d.MinerID, int(d.TargetKW*1000)))
		if (errors.Is(err, firmware.ErrUnsupported) || errors.Is(err, firmware.ErrOutOfRange)) && d.TargetKW < d.FromKW {
			// A shed that cannot be a throttle must still shed: sleep the miner and hold its
			// gate for safety. The shed is done (the miner draws less than the target, which
			// errs on the safe side), so it is not an error: an error would make the Runner
			// send the throttle again, waking and sleeping the miner every retry. A later
			// confirmed run or throttle lifts the hold.
			if serr := drv.Sleep(ctx, t); serr == nil {
				c.mu.Lock()
				m := c.minerLocked(d.MinerID)
				c.setHoldsLocked(d.MinerID, m, m.holds|HoldSafety, c.clk.Now())
				m.slept = true
				c.mu.Unlock()
				c.log.Warn().Str("miner", d.MinerID).Float64("target_kw", d.TargetKW).Err(err).
					Msg("throttle not possible; miner put to sleep instead")
				return nil
			}
		}
		return err
	}
	return nil
}

func commandName(a policy.Action) string {
	switch a {
	case policy.ActionPause:
		return "sleep"
	case policy.ActionRun:
		return "wake"
	case policy.ActionThrottle:
		return "set_power_target"
	}
	return a.String()
}

type fwKey struct{ firmware, command, result string }

// countLocked counts a firmware call's outcome; c.mu held.
func (c *Controller) countLocked(fw, cmd string, err error) {
	res := "ok"
	switch {
	case err == nil:
	case errors.Is(err, firmware.ErrUnsupported):
		res = "unsupported"
	case errors.Is(err, firmware.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		res = "timeout"
	case errors.Is(err, firmware.ErrNotConfirmed):
		res = "not_confirmed"
	default:
		res = "error"
	}
	c.fwRes[fwKey{fw, cmd, res}]++
}

// FirmwareResult counts firmware calls with one outcome.
type FirmwareResult struct {
	Firmware string // luxos, braiins, ...
	Command  string // sleep, wake, set_power_target, status, reboot, locate, power_profile
	Result   string // ok, error, timeout, unsupported, not_confirmed
	Count    uint64
}

// FirmwareResults returns the cumulative outcomes of firmware commands and status polls,
// sorted.
func (c *Controller) FirmwareResults() []FirmwareResult {
	c.mu.Lock()
	out := make([]FirmwareResult, 0, len(c.fwRes))
	for k, n := range c.fwRes {
		out = append(out, FirmwareResult{Firmware: k.firmware, Command: k.command, Result: k.result, Count: n})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Firmware+a.Command+a.Result < b.Firmware+b.Command+b.Result
	})
	return out
}
