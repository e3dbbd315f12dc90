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
	// FaultHugeHeaders pads every HTTP reply (REST and gRPC) with
	// HugeHeaderBytes of headers, as a broken or hostile web server might.
	FaultHugeHeaders
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
	// Boards and Fans count hashboards and fans; AmbientC is the intake
	// air. Temperatures and fan speeds follow the draw (see State).
	Boards, Fans int
	AmbientC     float64
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
		Boards: 3, Fans: 4, AmbientC: 25,
	}
}

// Validate reports an impossible miner.
func (c MinerConfig) Validate() error {
	if c.NominalW <= 0 || c.SleepW < 0 || c.SleepW >= c.NominalW || c.MinW > c.MaxW || c.RampDown < 0 || c.RampUp < 0 {
		return errors.New("sim miner: inconsistent power figures")
	}
	if c.Boards < 0 || c.Boards > 255 || c.Fans < 0 || c.Fans > 8 {
		return errors.New("sim miner: Boards must be 0-255 and Fans 0-8")
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
	// BoardTempC and ChipTempC are the hottest sensors; both sit at the
	// ambient temperature when nothing draws.
	BoardTempC, ChipTempC float64
	// FansRPM has one speed per fan: 1,000 rpm idle, 6,000 at full power.
	FansRPM []float64
	// BoardsWorking of Boards are hashing (none while asleep).
	BoardsWorking, Boards int
	// UptimeS counts from start or the last reboot.
	UptimeS int64
	// Locate is the locate LED; Reboots counts reboots.
	Locate  bool
	Reboots int
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
	bootAt   time.Time
	locate   bool
	reboots  int
	deadBds  int
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
	now := clock.Now()
	m := &Miner{cfg: cfg, clock: clock, targetW: cfg.NominalW, goal: cfg.NominalW, rampFrom: cfg.NominalW, rampStart: now, bootAt: now}
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

// Reboot restarts the miner, unless FaultIgnoreWrites is on: uptime starts
// again and the draw climbs from the sleep level back to what its state
// asks for (a sleeping miner stays asleep, as LuxOS keeps curtailment
// across a reboot).
func (m *Miner) Reboot() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults&FaultIgnoreWrites != 0 {
		return
	}
	now := m.clock.Now()
	m.bootAt, m.reboots = now, m.reboots+1
	m.rampFrom, m.rampStart, m.rampDur = m.cfg.SleepW, now, m.cfg.RampUp
}

// SetLocate switches the locate LED, unless FaultIgnoreWrites is on.
func (m *Miner) SetLocate(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults&FaultIgnoreWrites == 0 {
		m.locate = on
	}
}

// SetDeadBoards makes n hashboards stop hashing (a failed board).
func (m *Miner) SetDeadBoards(n int) {
	m.mu.Lock()
	m.deadBds = min(max(n, 0), m.cfg.Boards)
	m.mu.Unlock()
}

// State returns what the miner would report now.
func (m *Miner) State() MinerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	p := m.level(now)
	hash := 0.0
	if span := m.cfg.NominalW - m.cfg.SleepW; p > m.cfg.SleepW && span > 0 {
		hash = m.cfg.NominalTHs * (p - m.cfg.SleepW) / span
	}
	if m.cfg.Boards > 0 {
		hash *= float64(m.cfg.Boards-m.deadBds) / float64(m.cfg.Boards)
	}
	load := min(max(p/m.cfg.NominalW, 0), 1.2)
	s := MinerState{Sleeping: m.sleeping, PowerW: p, TargetW: m.targetW, HashrateTHs: hash, Profile: m.profile,
		BoardTempC: m.cfg.AmbientC + 40*load, ChipTempC: m.cfg.AmbientC + 55*load,
		Boards: m.cfg.Boards, UptimeS: int64(now.Sub(m.bootAt) / time.Second), Locate: m.locate, Reboots: m.reboots}
	if hash > 0 {
		s.BoardsWorking = m.cfg.Boards - m.deadBds
	}
	if m.cfg.Fans > 0 {
		s.FansRPM = make([]float64, m.cfg.Fans)
		for i := range s.FansRPM {
			s.FansRPM[i] = 1000 + 5000*min(load, 1)
		}
	}
	return s
}
