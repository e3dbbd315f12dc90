package power

import (
	"strings"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// Hold is a set of reasons a miner's proxy gate is closed. The gate is open only when no
// reason remains, so one party can never undo another's: a policy restore keeps an operator's
// pause, an operator's resume keeps a policy shed.
type Hold uint8

// Hold reasons.
const (
	// HoldPolicy: the policy paused the miner, or commanded it back and the firmware has not
	// confirmed yet. Set for every pause decision of a step at once (Plan); cleared when the
	// firmware confirmed a run or throttle.
	HoldPolicy Hold = 1 << iota
	// HoldOperator: paused from the console (PauseWorker) until ResumeWorker; replayed from
	// the audit trail at start.
	HoldOperator
	// HoldRestart: the previous run left the miner paused; it stays gated from its first
	// connection until the policy first decides it.
	HoldRestart
	// HoldSafety: the firmware put the miner to sleep because a shed could not be a throttle;
	// cleared when the firmware confirmed a later run or throttle.
	HoldSafety
)

var holdNames = []string{"policy", "operator", "restart", "safety"}

// holdStrings is String of every set, built once: the console reads every worker's holds each
// second, and a string per held miner per second is garbage at 10,000 miners.
var holdStrings = func() (out [1 << 4]string) {
	for h := range out {
		var parts []string
		for i, n := range holdNames {
			if h&(1<<i) != 0 {
				parts = append(parts, n)
			}
		}
		out[h] = strings.Join(parts, ",")
	}
	out[0] = "none"
	return out
}()

// String lists the reasons in the order policy, operator, restart, safety, comma-separated
// ("none" for the empty set).
func (h Hold) String() string { return holdStrings[h&holdAll] }

const holdAll = HoldPolicy | HoldOperator | HoldRestart | HoldSafety

// MarshalText implements encoding.TextMarshaler.
func (h Hold) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// provenBy are the holds under which a miner counts as proven: a miner gated for them cannot
// submit shares, and forgetting it would drop it from the policy's fleet.
const provenBy = HoldPolicy | HoldOperator | HoldRestart | HoldSafety

// miner is the Controller's state for one worker name. Holds outlive the connection (they
// are by name, like the proxy's gate) for as long as they stand, the rest for offline_ttl
// (prune.go); the inventory part is valid while connected.
type miner struct {
	holds Hold
	// want is the policy's latest decision for the miner (Plan): a confirmation of an older
	// run arriving after a newer pause must not open the gate.
	want policy.Action
	// slept: the command being applied was a throttle carried out by sleeping the miner.
	slept bool

	// Inventory: connected and matched to a [[fleet]] group.
	connected bool
	group     *policy.FleetGroup
	host      string
	sharedIP  bool
	// unvouched: its firmware address is not one its group vouches for (inventory.go).
	unvouched bool
	view      policy.Miner // as last given to the Runner

	// applied is the last command the actuator carried out in this run; restored is the
	// previous run's last decision, used once at the first connection.
	applied    policy.Command
	hasApplied bool
	restored   *policy.Command

	// offSince is when its last connection closed, or when the state was made for a worker
	// not connected (restored, or an operator control replayed): what offline_ttl counts from.
	offSince time.Time

	// Evidence for Proven.
	lastShare time.Time // the latest valid share of any of its sessions
	firmware  time.Time // the latest firmware answer saying it runs or sleeps
	released  time.Time // when its last hold was cleared (a held miner cannot submit)

	// op is the latest telemetry and the operator's power profile (operator.go); nil until
	// the miner is polled or given a profile.
	op *operatorState
}

// reachable reports whether the miner has a firmware to call at an address of its own: a
// connected miner of a group with a control API, not sharing its IP.
func (m *miner) reachable() bool {
	return m.connected && m.group != nil && !m.sharedIP && m.group.Firmware != "" && m.group.Firmware != policy.FirmwareNone
}

// controllable reports whether the miner's firmware is called for it: reachable, and no
// credentials withheld from it.
func (m *miner) controllable() bool { return m.reachable() && !m.credentialsWithheld() }

// minerLocked returns the state of worker id, creating it; c.mu held.
func (c *Controller) minerLocked(id string) *miner {
	m := c.miners[id]
	if m == nil {
		m = &miner{offSince: c.clk.Now()}
		c.miners[id] = m
	}
	return m
}

// setHoldsLocked changes a miner's holds and moves the proxy gate when it must: closed when the
// first reason appears, open when the last one goes. These are the only gate calls in
// hashgate. c.mu held, so gate calls for one worker never overtake each other.
func (c *Controller) setHoldsLocked(id string, m *miner, h Hold, now time.Time) {
	old := m.holds
	m.holds = h
	switch {
	case old == 0 && h != 0:
		c.px.Pause(id)
		c.gated.Add(1)
	case old != 0 && h == 0:
		c.px.Resume(id)
		c.gated.Add(-1)
		m.released = now
	}
	if (old&provenBy != 0) != (h&provenBy != 0) || (old&HoldOperator) != (h&HoldOperator) {
		c.refreshLocked(id, m, now)
	}
}

// Proof is the evidence that makes a miner proven: a session that is a real miner, which the
// policy budgets. A miner without any is an unknown session the policy never counts.
type Proof uint8

// Proofs, in the order proofLocked prefers them.
const (
	// ProofNone: no evidence within proven_window (or the policy does not control the
	// worker): not proven.
	ProofNone Proof = iota
	// ProofHeld: a policy, operator or restart hold keeps it from submitting shares, or such a
	// hold was lifted less than proven_window ago.
	ProofHeld
	// ProofShare: a valid share of one of its sessions within proven_window.
	ProofShare
	// ProofFirmware: its firmware answered running or sleeping within proven_window.
	ProofFirmware
)

var proofNames = [...]string{"none", "held", "share", "firmware"}

func (p Proof) String() string {
	if int(p) < len(proofNames) {
		return proofNames[p]
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (p Proof) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// proofLocked applies the proven rule: a hold that keeps the miner from submitting, else the
// newest evidence within proven_window; c.mu held.
func (c *Controller) proofLocked(m *miner, now time.Time) Proof {
	if m.holds&provenBy != 0 {
		return ProofHeld
	}
	p, last := ProofHeld, m.released
	if m.lastShare.After(last) {
		p, last = ProofShare, m.lastShare
	}
	if m.firmware.After(last) {
		p, last = ProofFirmware, m.firmware
	}
	if last.IsZero() || now.Sub(last) >= c.cfg.ProvenWindow.D() {
		return ProofNone
	}
	return p
}

// provenLocked reports whether the miner is proven; c.mu held.
func (c *Controller) provenLocked(m *miner, now time.Time) bool {
	return c.proofLocked(m, now) != ProofNone
}

// refreshLocked tells the Runner a connected miner's Proven and OperatorHold when they changed;
// c.mu held.
func (c *Controller) refreshLocked(id string, m *miner, now time.Time) {
	if c.sink == nil || !m.connected || m.group == nil {
		return
	}
	proven, op := c.provenLocked(m, now), m.holds&HoldOperator != 0
	if proven == m.view.Proven && op == m.view.OperatorHold {
		return
	}
	m.view.Proven, m.view.OperatorHold = proven, op
	c.sink.UpsertMiner(m.view)
}

// Holds returns the reasons worker's gate is closed (0: open).
func (c *Controller) Holds(worker string) Hold {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.miners[worker]; m != nil {
		return m.holds
	}
	return 0
}

// Gate is one worker's gate as the Controller holds it: why it is closed and whether the
// policy counts the worker as a miner.
type Gate struct {
	// Holds are the reasons the proxy gate is closed (0: open).
	Holds Hold
	// Proof is the evidence that the worker is a real miner; ProofNone for a worker the
	// policy does not control (no [policy], or no [[fleet]] group matches it).
	Proof Proof
}

// Proven reports whether the policy budgets the worker.
func (g Gate) Proven() bool { return g.Proof != ProofNone }

// Gates returns the gate of every worker the Controller keeps state for, by worker name: the
// connected workers that match a [[fleet]] group, those that disconnected less than
// offline_ttl ago, and held ones. A worker absent from the map has an open gate and no proof. One pass under the lock with no
// allocation but the map's, for the console's snapshot of every worker each second.
func (c *Controller) Gates() map[string]Gate {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Gate, len(c.miners))
	for id, m := range c.miners {
		g := Gate{Holds: m.holds}
		if c.sink != nil && m.connected && m.group != nil {
			g.Proof = c.proofLocked(m, now)
		}
		out[id] = g
	}
	return out
}

// HoldCounts returns how many workers each reason holds, for the console and /metrics.
func (c *Controller) HoldCounts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(holdNames))
	for _, n := range holdNames {
		out[n] = 0
	}
	for _, m := range c.miners {
		for i, n := range holdNames {
			if m.holds&(1<<i) != 0 {
				out[n]++
			}
		}
	}
	return out
}
