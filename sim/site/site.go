// Package site simulates a power-constrained site for hashgate's demo and end-to-end tests:
// an AI hall whose load spikes, load no sub-meter sees (cooling, offices) that steps now and
// then, a fleet of miners whose firmware APIs (LuxOS, Braiins OS) are served by the
// sim/firmware endpoints with their real protocols, and three Modbus TCP meters (a SunSpec grid
// meter at the site's import point, a Janitza UMG on the AI hall's feeder and an SDM630 on the
// mining feeder) whose readings follow the physics: import = AI load + unmetered load + what
// the miners actually draw; the AI meter sees the AI hall alone, the feeder the miners alone.
package site

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	simfw "github.com/hashgate/hashgate/sim/firmware"
	simmeter "github.com/hashgate/hashgate/sim/meter"
)

// MinerSpec is one simulated miner's control side.
type MinerSpec struct {
	Worker   string
	Firmware string // luxos or braiins
	Model    simfw.MinerConfig
}

// Config describes the site.
type Config struct {
	Miners []MinerSpec
	// AIBaseKW is the AI hall's steady load; every SpikeEvery it rises to AISpikeKW for
	// SpikeFor (a training job's burst).
	AIBaseKW, AISpikeKW  float64
	SpikeEvery, SpikeFor time.Duration
	// UnmeteredKW is load no sub-meter sees (cooling, offices, lighting): only the grid meter
	// includes it. For the last UnmeteredStepFor of every UnmeteredStepEvery it is
	// UnmeteredStepKW higher (a chiller stage switching in). Steps are counted from Start, as
	// the AI bursts are, so the load is a pure function of time; UnmeteredStepEvery 0 means no
	// steps.
	UnmeteredKW, UnmeteredStepKW         float64
	UnmeteredStepEvery, UnmeteredStepFor time.Duration
	// Tick is how often Run updates the meters (default 250 ms).
	Tick time.Duration
	// Clock is the site's time: the AI and unmetered loads, the miners' power ramps and the
	// firmware sessions follow it (nil: the wall clock). Tests pass a simfw.ManualClock and
	// call Refresh instead of Run.
	Clock  simfw.Clock
	Logger zerolog.Logger
}

// Validate reports an impossible site.
func (c *Config) Validate() error {
	switch {
	case c.AIBaseKW < 0 || c.AISpikeKW < 0 || c.UnmeteredKW < 0 || c.UnmeteredKW+c.UnmeteredStepKW < 0:
		return errors.New("site: a load is negative")
	case c.SpikeEvery < 0 || c.SpikeFor < 0 || c.SpikeFor > c.SpikeEvery:
		return errors.New("site: spike_for must be within spike_every")
	case c.UnmeteredStepEvery < 0 || c.UnmeteredStepFor < 0 || c.UnmeteredStepFor > c.UnmeteredStepEvery:
		return errors.New("site: unmetered_step_for must be within unmetered_step_every")
	case c.Tick < 0:
		return errors.New("site: tick is negative")
	}
	return nil
}

// Loads is the site's power as last metered, in kW.
type Loads struct {
	AIKW        float64 // the AI hall, as its own meter reads it
	UnmeteredKW float64 // cooling and offices: in the grid meter only
	MiningKW    float64 // what the miners draw, as the mining feeder reads it
	ImportKW    float64 // the grid meter: AI + unmetered + mining
}

// Site is a running simulated site.
type Site struct {
	cfg     Config
	clk     simfw.Clock
	start   time.Time
	grid    *simmeter.ModbusServer
	ai      *simmeter.ModbusServer
	feeder  *simmeter.ModbusServer
	miners  map[string]*simfw.Miner
	servers []interface{ Close() error }
	// Endpoints maps a worker to its firmware API address.
	Endpoints map[string]string

	mu    sync.Mutex
	loads Loads
}

// Start brings up the firmware endpoints and meters on loopback.
func Start(cfg Config) (*Site, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Tick == 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	clk := cfg.Clock
	if clk == nil {
		clk = simfw.SystemClock{}
	}
	s := &Site{cfg: cfg, clk: clk, start: clk.Now(), miners: map[string]*simfw.Miner{}, Endpoints: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	for _, ms := range cfg.Miners {
		m, err := simfw.NewMiner(ms.Model, clk)
		if err != nil {
			return nil, err
		}
		log := cfg.Logger.With().Str("sim", "firmware").Str("worker", ms.Worker).Logger()
		var addr string
		switch ms.Firmware {
		case "luxos":
			srv := simfw.NewLuxOS(m, clk, 5*time.Minute, log)
			a, err := srv.Listen("127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			s.servers = append(s.servers, srv)
			addr = a.String()
		case "braiins":
			srv := simfw.NewBraiins(m, clk, "root", "root", 30*time.Minute, log)
			a, err := srv.Listen("127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			s.servers = append(s.servers, srv)
			addr = a.String()
		default:
			return nil, fmt.Errorf("site: firmware %q not simulated", ms.Firmware)
		}
		s.miners[ms.Worker] = m
		s.Endpoints[ms.Worker] = addr
	}
	// Each meter serves every simulated register map; the demo reads the grid meter's
	// SunSpec model 203, the AI meter's Janitza block and the feeder's SDM630 registers.
	for _, m := range []**simmeter.ModbusServer{&s.grid, &s.ai, &s.feeder} {
		var err error
		if *m, err = simmeter.NewModbusServer(simmeter.ModbusConfig{SunSpecModel: 203, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		if err := (*m).Start(); err != nil {
			return nil, err
		}
	}
	s.Refresh()
	ok = true
	return s, nil
}

// GridMeter is the SunSpec meter at the import point (host:port).
func (s *Site) GridMeter() string { return s.grid.Addr() }

// AIMeter is the Janitza UMG on the AI hall's feeder (host:port): the AI load alone.
func (s *Site) AIMeter() string { return s.ai.Addr() }

// FeederMeter is the SDM630 on the mining feeder (host:port).
func (s *Site) FeederMeter() string { return s.feeder.Addr() }

// Run updates the meters until ctx ends.
func (s *Site) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Refresh()
		}
	}
}

// AILoad is the AI hall's load at time since start: steady, with a burst every SpikeEvery
// that ramps up over two seconds and back down over five.
func (s *Site) AILoad(since time.Duration) float64 {
	c := s.cfg
	if c.SpikeEvery <= 0 {
		return c.AIBaseKW
	}
	phase := since % c.SpikeEvery
	lo, hi := c.SpikeEvery-c.SpikeFor, c.SpikeEvery
	switch {
	case phase < lo:
		return c.AIBaseKW
	case phase < lo+2*time.Second:
		return c.AIBaseKW + (c.AISpikeKW-c.AIBaseKW)*float64(phase-lo)/float64(2*time.Second)
	case phase < hi-5*time.Second:
		// A little ripple, as real GPU load has.
		return c.AISpikeKW + 0.02*c.AISpikeKW*math.Sin(float64(phase)/float64(time.Second))
	default:
		return c.AIBaseKW + (c.AISpikeKW-c.AIBaseKW)*float64(hi-phase)/float64(5*time.Second)
	}
}

// UnmeteredLoad is the load no sub-meter sees at time since start: UnmeteredKW, and
// UnmeteredStepKW more for the last UnmeteredStepFor of every UnmeteredStepEvery.
func (s *Site) UnmeteredLoad(since time.Duration) float64 {
	c := s.cfg
	if c.UnmeteredStepEvery <= 0 || c.UnmeteredStepFor <= 0 {
		return c.UnmeteredKW
	}
	if since%c.UnmeteredStepEvery >= c.UnmeteredStepEvery-c.UnmeteredStepFor {
		return c.UnmeteredKW + c.UnmeteredStepKW
	}
	return c.UnmeteredKW
}

// Refresh sets every meter to the site's loads at the clock's now. Run calls it every Tick.
func (s *Site) Refresh() {
	since := s.clk.Now().Sub(s.start)
	l := Loads{AIKW: s.AILoad(since), UnmeteredKW: s.UnmeteredLoad(since)}
	for _, m := range s.miners {
		l.MiningKW += m.State().PowerW / 1000
	}
	l.ImportKW = l.AIKW + l.UnmeteredKW + l.MiningKW
	s.mu.Lock()
	defer s.mu.Unlock() // meters and Loads change together
	s.grid.SetPower(l.ImportKW * 1000)
	s.ai.SetPower(l.AIKW * 1000)
	s.feeder.SetPower(l.MiningKW * 1000)
	s.loads = l
}

// Loads returns the site's loads as last metered.
func (s *Site) Loads() Loads {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// Power returns the AI load, mining load and site import in kW as last metered; the import
// includes the unmetered load (see Loads).
func (s *Site) Power() (aiKW, miningKW, importKW float64) {
	l := s.Loads()
	return l.AIKW, l.MiningKW, l.ImportKW
}

// HashFraction is how much of its nominal hashrate a worker's hardware delivers now (0 when
// its firmware has put it to sleep), for driving the simulated stratum miner.
func (s *Site) HashFraction(worker string) float64 {
	m, ok := s.miners[worker]
	if !ok {
		return 1
	}
	st := m.State()
	if nom := m.Config().NominalTHs; nom > 0 {
		return st.HashrateTHs / nom
	}
	return 0
}

// Close stops every endpoint and meter.
func (s *Site) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
	if s.grid != nil {
		s.grid.Stop()
	}
	if s.ai != nil {
		s.ai.Stop()
	}
	if s.feeder != nil {
		s.feeder.Stop()
	}
}
