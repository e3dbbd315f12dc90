package firmware

import (
	"errors"
	"sync"
	"time"
)

// Fault is a misbehaviour a simulated miner can be switched into.
type Fault uint32

// Faults; they combine.
const (
	// FaultIgnoreWrites acknowledges every write and changes nothing, as
	// some stock Antminer firmware does.
	FaultIgnoreWrites Fault = 1 << iota
	// FaultGarbage answers every request with malformed JSON.
	FaultGarbage
	// FaultStall reads requests and never answers.
	FaultStall
	// FaultRejectAuth refuses every login and token.
	FaultRejectAuth
)

// Profile is a tuned power step (LuxOS profile, VNish preset).
type Profile struct {
	Name string
	// Watts is the step's nominal draw; THs its nominal hashrate.
	Watts float64
	THs   float64
}

// MinerConfig describes a simulated miner.
type MinerConfig struct {
	// NominalW and NominalTHs are full power and hashrate.
	NominalW   float64
	NominalTHs float64
	// SleepW is the draw while asleep (control board, fans).
	SleepW float64
	// MinW and MaxW bound a continuous power target.
	MinW, MaxW float64
	// RampDown and RampUp are how long the draw takes to reach a new level.
	RampDown, RampUp time.Duration
	// Profiles are the discrete steps; the first with Watts == NominalW is
	// active at start.
	Profiles []Profile
}

// DefaultMinerConfig resembles an S21-class miner: 3.5 kW, 200 TH/s, 25 W
// asleep, down in 5 s and up in 10 s (LuxOS published figures).
func DefaultMinerConfig() MinerConfig {
	return MinerConfig{
		NominalW: 3500, NominalTHs: 200, SleepW: 25, MinW: 1500, MaxW: 4000,
		RampDown: 5 * time.Second, RampUp: 10 * time.Second,
		Profiles: []Profile{
			{Name: "default", Watts: 3500, THs: 200},
			{Name: "525MHz", Watts: 2870, THs: 170.6},
			{Name: "445MHz", Watts: 2300, THs: 145},
			{Name: "365MHz", Watts: 1750, THs: 119},
		},
	}
}

// Validate reports an impossible miner.
func (c MinerConfig) Validate() error {
	if c.NominalW <= 0 || c.SleepW < 0 || c.SleepW >= c.NominalW || c.MinW > c.MaxW || c.RampDown < 0 || c.RampUp < 0 {
		return errors.New("sim miner: inconsistent power figures")
	}
	return nil
}

// MinerState is what a miner would report now.
type MinerState struct {
	Sleeping    bool
	PowerW      float64
	TargetW     float64
	HashrateTHs float64
	Profile     string
}

// Miner is the power model behind a simulated endpoint. Safe for concurrent
// use.
type Miner struct {
	cfg   MinerConfig
	clock Clock

	mu       sync.Mutex
	sleeping bool
	targetW  float64
	profile  string
	faults   Fault
	// ramp: the draw moves linearly from rampFrom to goal over rampDur.
	rampFrom  float64
	rampStart time.Time
	rampDur   time.Duration
	goal      float64
}

// NewMiner returns a miner running at full power. A nil clock is the wall
// clock.
func NewMiner(cfg MinerConfig, clock Clock) (*Miner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = SystemClock{}
	}
	m := &Miner{cfg: cfg, clock: clock, targetW: cfg.NominalW, goal: cfg.NominalW, rampFrom: cfg.NominalW, rampStart: clock.Now()}
	for _, p := range cfg.Profiles {
		if p.Watts == cfg.NominalW {
			m.profile = p.Name
			break
		}
	}
	return m, nil
}

// Config returns the miner's configuration.
func (m *Miner) Config() MinerConfig { return m.cfg }

// SetFaults replaces the active faults.
func (m *Miner) SetFaults(f Fault) {
	m.mu.Lock()
	m.faults = f
	m.mu.Unlock()
}

// Faults returns the active faults.
func (m *Miner) Faults() Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults
}

func (m *Miner) has(f Fault) bool { return m.Faults()&f != 0 }

// level is the draw at now; m.mu held.
func (m *Miner) level(now time.Time) float64 {
	el := now.Sub(m.rampStart)
	if m.rampDur <= 0 || el >= m.rampDur {
		return m.goal
	}
	if el < 0 {
		el = 0
	}
	return m.rampFrom + (m.goal-m.rampFrom)*float64(el)/float64(m.rampDur)
}

// retarget starts a ramp to the goal implied by the state; m.mu held.
func (m *Miner) retarget() {
	now := m.clock.Now()
	from := m.level(now)
	goal := m.targetW
	if m.sleeping {
		goal = m.cfg.SleepW
	}
	m.rampFrom, m.rampStart, m.goal = from, now, goal
	m.rampDur = m.cfg.RampUp
	if goal < from {
		m.rampDur = m.cfg.RampDown
	}
}

// Sleep curtails the miner, unless FaultIgnoreWrites is on.
func (m *Miner) Sleep() { m.setSleeping(true) }

// Wake resumes mining, unless FaultIgnoreWrites is on.
func (m *Miner) Wake() { m.setSleeping(false) }

func (m *Miner) setSleeping(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults&FaultIgnoreWrites != 0 || m.sleeping == v {
		return
	}
	m.sleeping = v
	m.retarget()
}

// SetTarget sets a continuous power target, clamped to [MinW, MaxW].
func (m *Miner) SetTarget(w float64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	w = min(max(w, m.cfg.MinW), m.cfg.MaxW)
	if m.faults&FaultIgnoreWrites != 0 {
		return w
	}
	m.targetW, m.profile = w, ""
	m.retarget()
	return w
}

// SetProfile switches to a named step; false if there is no such profile.
func (m *Miner) SetProfile(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.cfg.Profiles {
		if p.Name == name {
			if m.faults&FaultIgnoreWrites == 0 {
				m.targetW, m.profile = p.Watts, p.Name
				m.retarget()
			}
			return true
		}
	}
	return false
}

// State returns what the miner would report now.
func (m *Miner) State() MinerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.level(m.clock.Now())
	hash := 0.0
	if span := m.cfg.NominalW - m.cfg.SleepW; p > m.cfg.SleepW && span > 0 {
		hash = m.cfg.NominalTHs * (p - m.cfg.SleepW) / span
	}
	return MinerState{Sleeping: m.sleeping, PowerW: p, TargetW: m.targetW, HashrateTHs: hash, Profile: m.profile}
}
