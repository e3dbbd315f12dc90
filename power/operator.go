package power

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
)

// Operator firmware commands: reboot, locate LED and power profile, for one worker or many at
// once. Each is recorded in the audit trail (with the actor) before it is sent, like the
// operator controls in manual.go; a power profile is also replayed at start.
const (
	KindReboot       = "manual.reboot"
	KindLocate       = "manual.locate"
	KindPowerProfile = "manual.power_profile"
)

// ErrNoControl is returned for a worker the Controller cannot reach through firmware: it
// matches no [[fleet]] group with a firmware, shares its IP with other workers without an
// explicit address, or is not connected.
var ErrNoControl = errors.New("power: no firmware control channel for this worker")

// operatorParallel bounds the firmware calls of one operator command in flight: a bulk
// reboot of a page of miners must not open hundreds of connections at once, nor queue behind
// the policy's own commands.
const operatorParallel = 32

// operatorTimeout bounds one miner's part of an operator command (stock Antminer CGI takes
// up to ~21 s to answer; a power profile reads the capabilities, writes and reads back).
const operatorTimeout = 45 * time.Second

// operatorState is what the Controller keeps per miner for the console and the operator: the
// latest telemetry (one per polled miner, dropped with the miner) and the operator's power
// profile.
type operatorState struct {
	status   firmware.Status
	statusAt time.Time // zero: never answered
	polledAt time.Time // the last poll, answered or not
	pollErr  error
	profile  int // W; 0: none
}

// MinerTelemetry is the latest firmware reading of one worker, for the console.
type MinerTelemetry struct {
	Firmware string
	// Status is the last successful reading, taken at StatusAt (zero before the first).
	Status   firmware.Status
	StatusAt time.Time
	// PolledAt is when the last poll returned, and PollErr its failure (nil: it answered).
	PolledAt time.Time
	PollErr  error
	// Controllable says whether firmware commands can reach the miner now.
	Controllable bool
	// Unvouched says its group does not vouch for its firmware address ([[fleet]] networks,
	// addresses or an IP-prefix match): the group's credentials are not sent to it and its
	// telemetry is shown but neither proves it nor counts as its draw. Never set for a group
	// without firmware (none): it calls nothing, so there is nothing to vouch for.
	Unvouched bool
	// ProfileW is the operator's power profile (the miner's ceiling); 0 when none.
	ProfileW int
}

// opLocked returns the miner's operator state, creating it; c.mu held.
func (m *miner) opLocked() *operatorState {
	if m.op == nil {
		m.op = &operatorState{}
	}
	return m.op
}

// keepTelemetryLocked keeps a poll result as the miner's latest; a failed poll keeps the last
// good status and records the failure. c.mu held.
func (m *miner) keepTelemetryLocked(t Telemetry) {
	op := m.opLocked()
	op.polledAt, op.pollErr = t.At, t.Err
	if t.Err == nil {
		op.status, op.statusAt = t.Status, t.At
	}
}

// MinerTelemetry returns the latest telemetry of worker; false if the Controller does not
// know the worker.
func (c *Controller) MinerTelemetry(worker string) (MinerTelemetry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.miners[worker]
	if m == nil {
		return MinerTelemetry{}, false
	}
	out := MinerTelemetry{Controllable: m.controllable(), Unvouched: m.unvouched}
	if m.group != nil {
		out.Firmware = string(m.group.Firmware)
	}
	if op := m.op; op != nil {
		out.Status, out.StatusAt, out.PolledAt, out.PollErr, out.ProfileW = op.status, op.statusAt, op.polledAt, op.pollErr, op.profile
	}
	return out, true
}

// OperatorResult is one worker's outcome of an operator command.
type OperatorResult struct {
	Worker string
	// Err is nil when the firmware took (and, where it can, confirmed) the command.
	Err error
	// Deferred is set for a power profile saved for a miner that is paused now: it is sent
	// when the miner runs again.
	Deferred bool
}

// opJob is one worker's part of an operator command.
type opJob struct {
	worker string
	drv    firmware.Driver
	fw     string
	t      firmware.Target
}

// resolve finds each worker's driver and target; a worker that cannot be reached gets its
// error in res.
func (c *Controller) resolve(workers []string, res []OperatorResult) []*opJob {
	jobs := make([]*opJob, len(workers))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range workers {
		res[i].Worker = w
		m := c.miners[w]
		switch {
		case m == nil:
			res[i].Err = fmt.Errorf("%w: worker %q", ErrNotFound, w)
			continue
		case m.connected && m.credentialsWithheld():
			res[i].Err = ErrCredentialsWithheld
			continue
		case !m.controllable():
			res[i].Err = ErrNoControl
			continue
		}
		drv, err := c.fw.Driver(string(m.group.Firmware))
		if err != nil {
			res[i].Err = err
			continue
		}
		jobs[i] = &opJob{worker: w, drv: drv, fw: string(m.group.Firmware), t: target(w, m)}
	}
	return jobs
}

// runOp runs one operator command for each reachable worker, operatorParallel at a time,
// each within operatorTimeout: check (if any) asks the firmware whether the command can be
// done, then the command goes into the audit trail, then do sends it. Outcomes are counted
// in FirmwareResults under cmd.
func (c *Controller) runOp(ctx context.Context, actor, kind, cmd string, detail any, workers []string,
	check, do func(ctx context.Context, j *opJob, r *OperatorResult) error) []OperatorResult {
	res := make([]OperatorResult, len(workers))
	jobs := c.resolve(workers, res)
	sem := make(chan struct{}, operatorParallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j == nil {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			res[i].Err = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, operatorTimeout)
			defer cancel()
			var err error
			if check != nil {
				err = check(jctx, j, &res[i])
			}
			if err == nil {
				if err = c.record(jctx, actor, kind, j.worker, detail); err != nil {
					res[i].Err = fmt.Errorf("audit: %w", err)
					return // nothing was sent
				}
				c.commands.Add(1)
				err = do(jctx, j, &res[i])
			}
			c.mu.Lock()
			c.countLocked(j.fw, cmd, err)
			c.mu.Unlock()
			res[i].Err = err
			if err != nil {
				c.log.Warn().Str("worker", j.worker).Str("firmware", j.fw).Str("cmd", cmd).Str("actor", actor).Err(err).
					Msg("operator firmware command failed")
			}
		})
	}
	wg.Wait()
	return res
}

// Reboot restarts the listed workers' miners through their firmware. A reboot is sent once
// (never retried: one that timed out may have been taken).
func (c *Controller) Reboot(ctx context.Context, actor string, workers []string) []OperatorResult {
	return c.runOp(ctx, actor, KindReboot, "reboot", nil, workers, nil, func(ctx context.Context, j *opJob, _ *OperatorResult) error {
		return j.drv.Reboot(ctx, j.t)
	})
}

type locateDetail struct {
	On bool `json:"on"`
}

// Locate switches the listed workers' locate LEDs on or off.
func (c *Controller) Locate(ctx context.Context, actor string, workers []string, on bool) []OperatorResult {
	return c.runOp(ctx, actor, KindLocate, "locate", locateDetail{On: on}, workers, nil, func(ctx context.Context, j *opJob, _ *OperatorResult) error {
		return j.drv.Locate(ctx, j.t, on)
	})
}

type profileDetail struct {
	Watts int `json:"watts"` // 0: cleared
}

// ErrBadProfile is returned by SetPowerProfile for a negative power.
var ErrBadProfile = errors.New("power: a power profile is a power target in W > 0, or 0 to clear it")

// SetPowerProfile gives the listed workers an operator power profile: a power target in W,
// within what each miner's firmware offers (Capabilities), which becomes the miner's ceiling.
// The policy keeps control of the miner (it may still pause or throttle it), but no command
// of the Controller asks it for more than the profile: a throttle above it and a return to
// full power are sent as the profile instead. Sent at once to a running miner (at the
// policy's throttle if that is lower); saved, and sent when it runs again, for a paused one.
// watts 0 clears the profile: a running, unthrottled miner goes back to its full power.
// Profiles are kept across restarts (the audit trail is replayed) and dropped with the
// worker (offline_ttl).
func (c *Controller) SetPowerProfile(ctx context.Context, actor string, workers []string, watts int) ([]OperatorResult, error) {
	if watts < 0 {
		return nil, ErrBadProfile
	}
	var mu sync.Mutex
	full := make(map[string]int, len(workers)) // each miner's full power, from check to do
	check := func(ctx context.Context, j *opJob, _ *OperatorResult) error {
		caps, err := j.drv.Capabilities(ctx, j.t)
		if err != nil {
			return err
		}
		if !caps.PowerTarget {
			return fmt.Errorf("%w: %s offers no power target", firmware.ErrUnsupported, j.fw)
		}
		if watts != 0 && (watts < caps.MinW || watts > caps.MaxW) {
			return fmt.Errorf("%w: %d W outside the miner's %d..%d W", firmware.ErrOutOfRange, watts, caps.MinW, caps.MaxW)
		}
		mu.Lock()
		full[j.worker] = caps.MaxW
		mu.Unlock()
		return nil
	}
	return c.runOp(ctx, actor, KindPowerProfile, "power_profile", profileDetail{Watts: watts}, workers, check, func(ctx context.Context, j *opJob, r *OperatorResult) error {
		mu.Lock()
		fullW := full[j.worker]
		mu.Unlock()
		send, ok := c.setProfile(j.worker, watts, fullW)
		if !ok {
			r.Deferred = true
			return nil
		}
		return j.drv.SetPowerTarget(ctx, j.t, send)
	}), nil
}

// setProfile stores worker's profile and returns the target to send now; false when the
// miner is paused or held (the policy's next run sends it).
func (c *Controller) setProfile(worker string, watts, fullW int) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.minerLocked(worker)
	m.opLocked().profile = watts
	if m.holds != 0 || m.want == policy.ActionPause || (m.hasApplied && m.applied.Action == policy.ActionPause) {
		return 0, false
	}
	send := fullW
	if watts > 0 {
		send = watts
	}
	if m.hasApplied && m.applied.Action == policy.ActionThrottle {
		send = min(send, int(m.applied.TargetKW*1000))
	}
	return send, true
}

// profileW is worker's operator power profile; 0 when none.
func (c *Controller) profileW(worker string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.miners[worker]; m != nil && m.op != nil {
		return m.op.profile
	}
	return 0
}

// capTarget is the power target the Controller sends for a policy target of w W: no more
// than the operator's profile.
func (c *Controller) capTarget(worker string, w int) int {
	if p := c.profileW(worker); p > 0 && p < w {
		return p
	}
	return w
}

// runTarget is the power target to send with a policy run: full power (the group's rating)
// after a throttle, capped by the operator's profile, or the profile alone; false when the
// firmware's target is to be left as it is.
func (c *Controller) runTarget(worker string, g *policy.FleetGroup) (int, bool) {
	p := c.profileW(worker)
	switch {
	case g.MinKW > 0 && p > 0:
		return min(int(g.RatedKW*1000), p), true
	case g.MinKW > 0:
		return int(g.RatedKW * 1000), true
	case p > 0:
		return p, true
	}
	return 0, false
}
