package power

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
)

// ErrCredentialsWithheld (an ErrNoControl) is returned for a worker whose group has
// credentials but does not vouch for the worker's address: a worker name proves nothing.
var ErrCredentialsWithheld = fmt.Errorf("%w: its address is outside its [[fleet]] group's networks, so the group's credentials are withheld", ErrNoControl)

// syncFleet keeps the Runner's fleet equal to the connected workers that match a group, once
// a second.
func (c *Controller) syncFleet(ctx context.Context) {
	t := c.clk.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.syncOnce()
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// syncOnce reconciles the inventory with the proxy's connected workers: new miners go to the
// Runner with the command they were last given, changes of Proven follow their evidence,
// miners that left are removed, and workers gone longer than offline_ttl are forgotten.
func (c *Controller) syncOnce() {
	workers := c.px.Identities()
	now := c.clk.Now()
	// Several workers from one IP (NAT, a farm proxy) cannot be told apart at that IP's
	// firmware port: without an explicit address they get the gate only, never a command
	// meant for another machine.
	perIP := make(map[string]int, len(workers))
	for _, w := range workers {
		if host, _, err := net.SplitHostPort(w.Remote); err == nil {
			perIP[host]++
		}
	}
	seen := make(map[string]bool, len(workers))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range workers {
		if w.Worker == "" {
			continue
		}
		host, _, _ := net.SplitHostPort(w.Remote)
		ip, _ := netip.ParseAddr(host)
		g, ok := policy.MatchGroup(c.groups, w.Worker, ip)
		if !ok {
			// Not controlled: it mines at whatever power it draws. Say so once, loudly
			// enough that a mistyped worker name is found.
			if _, ok := c.warned["fleet:"+w.Worker]; !ok {
				c.log.Warn().Str("worker", w.Worker).Str("remote", w.Remote).Msg("worker matches no [[fleet]] group: the power policy does not control it")
			}
			c.warned["fleet:"+w.Worker] = now
			continue
		}
		m := c.minerLocked(w.Worker)
		if w.LastShare.After(m.lastShare) {
			m.lastShare = w.LastShare
		}
		if seen[w.Worker] {
			continue // a second session of the same worker: one miner to the policy
		}
		seen[w.Worker] = true
		_, explicit := g.Addresses[w.Worker]
		m.sharedIP = perIP[host] > 1 && !explicit
		if _, ok := c.warned["nat:"+w.Worker]; m.sharedIP && !ok {
			c.log.Warn().Str("worker", w.Worker).Str("ip", host).Msg("several workers connect from this IP: firmware control needs an explicit [fleet.addresses] entry; gating only")
		}
		if m.sharedIP {
			c.warned["nat:"+w.Worker] = now
		}
		if m.group != g || m.host != host {
			// Only an address that firmware calls go to, and telemetry comes from, needs
			// vouching; decided when the miner's group or address changes, not every pass
			// (the networks are parsed per call).
			m.unvouched = g.Firmware != "" && g.Firmware != policy.FirmwareNone && !g.Vouched(w.Worker, ip)
		}
		m.group, m.host = g, host
		c.warnUnvouchedLocked(w.Worker, w.Remote, m, now)
		if m.connected {
			c.refreshLocked(w.Worker, m, now)
			continue
		}
		m.connected = true
		m.view = g.NewMiner(w.Worker, w.Worker)
		// What this miner was last commanded: applied in this run (it reconnected), else
		// what the previous run decided (once, at its first connection after a restart).
		switch {
		case m.hasApplied && m.holds&HoldPolicy != 0 && m.applied.Action != policy.ActionPause:
			// A pause closed its gate but was never carried out (the firmware refused it),
			// and the Runner forgot it with the miner. Unknown, the miner is decided again,
			// so its gate follows a live decision instead of staying shut for good.
			m.view.Commanded = policy.Command{Action: policy.ActionUnknown}
		case m.hasApplied:
			m.view.Commanded = m.applied
		case m.restored != nil:
			m.view.Commanded = *m.restored
		}
		m.restored = nil
		if c.sink != nil {
			m.view.Proven, m.view.OperatorHold = c.provenLocked(m, now), m.holds&HoldOperator != 0
			c.sink.UpsertMiner(m.view)
		}
	}
	for id, m := range c.miners {
		if !m.connected || seen[id] {
			continue
		}
		m.connected, m.group, m.offSince = false, nil, now
		if c.sink != nil {
			c.sink.RemoveMiner(id)
		}
	}
	c.pruneLocked(now)
}

// address is where the miner's firmware API listens: a configured address, else the IP its
// stratum connection comes from on the firmware's (or the group's) port.
func address(id string, g *policy.FleetGroup, host string) string {
	if a, ok := g.Addresses[id]; ok {
		return a
	}
	port := g.Port
	if port == 0 {
		port = firmware.DefaultPort(string(g.Firmware))
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// credentialsWithheld reports whether firmware calls to the miner are withheld: they would
// carry its group's credentials to an address the operator did not vouch for (a worker name
// is a claim any host can make).
func (m *miner) credentialsWithheld() bool {
	return m.unvouched && m.group != nil && m.group.HasCredentials()
}

// withheldCallLocked counts a firmware call not made to the miner, as result "withheld", when
// its withheld credentials are the only reason; c.mu held.
func (c *Controller) withheldCallLocked(m *miner, cmd string) {
	if m.reachable() && m.credentialsWithheld() {
		c.fwRes[fwKey{string(m.group.Firmware), cmd, "withheld"}]++
	}
}

// warnUnvouchedLocked logs once per miner that its firmware address is not vouched for, and
// what that costs it; c.mu held.
func (c *Controller) warnUnvouchedLocked(worker, remote string, m *miner, now time.Time) {
	if !m.unvouched {
		delete(c.warned, "vouch:"+worker) // said again if it moves outside later
		return
	}
	if _, ok := c.warned["vouch:"+worker]; !ok {
		ev := c.log.Warn().Str("worker", worker).Str("remote", remote).Str("group", m.group.Name)
		if m.credentialsWithheld() {
			ev.Msg("miner connects from outside its [[fleet]] group's networks: firmware credentials withheld, gating only")
		} else {
			ev.Msg("miner connects from outside its [[fleet]] group's networks: its telemetry is not taken as proof or as its draw")
		}
	}
	c.warned["vouch:"+worker] = now
}

func target(id string, m *miner) firmware.Target {
	return firmware.Target{ID: id, Addr: address(id, m.group, m.host), Username: m.group.Username, Password: m.group.Password}
}

// pollTargets is every controllable miner, for the telemetry poller.
func (c *Controller) pollTargets() []PollTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PollTarget, 0, len(c.miners))
	for id, m := range c.miners {
		if m.controllable() {
			out = append(out, PollTarget{ID: id, Firmware: string(m.group.Firmware), Target: target(id, m)})
		} else {
			c.withheldCallLocked(m, "status")
		}
	}
	return out
}

// report takes one telemetry result: a firmware that answers running or sleeping proves the
// miner is real hardware, and a power reading is the miner's measured draw. From an address
// the operator did not vouch for, both could be made up by whatever host answers there: the
// reading is kept for the console only.
func (c *Controller) report(t Telemetry) {
	c.mu.Lock()
	m := c.miners[t.ID]
	if m == nil || m.group == nil {
		c.mu.Unlock()
		return
	}
	fw := string(m.group.Firmware)
	c.countLocked(fw, "status", t.Err)
	m.keepTelemetryLocked(t)
	trusted := t.Err == nil && !m.unvouched
	if trusted && (t.Status.State == firmware.StateRunning || t.Status.State == firmware.StateSleeping) && t.At.After(m.firmware) {
		m.firmware = t.At
		c.refreshLocked(t.ID, m, c.clk.Now())
	}
	c.mu.Unlock()
	if trusted && t.Status.Has(firmware.FieldPower) && c.sink != nil {
		c.sink.ObservePower(t.ID, t.Status.PowerW/1000, t.At)
	}
}
