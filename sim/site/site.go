// Package site simulates a power-constrained site for hashgate's demo and end-to-end tests:
// an AI hall whose load spikes, a fleet of miners whose firmware APIs (LuxOS, Braiins OS) are
// served by the sim/firmware endpoints with their real protocols, and two Modbus TCP meters
// (a SunSpec grid meter at the site's import point and an SDM630 on the mining feeder) whose
// readings follow the physics: import = AI load + what the miners actually draw.
package site

import (
	"context"
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
	// Tick is how often the meters are updated.
	Tick   time.Duration
	Logger zerolog.Logger
}

// Site is a running simulated site.
type Site struct {
	cfg     Config
	start   time.Time
	grid    *simmeter.ModbusServer
	feeder  *simmeter.ModbusServer
	miners  map[string]*simfw.Miner
	servers []interface{ Close() error }
	// Endpoints maps a worker to its firmware API address.
	Endpoints map[string]string

	mu                    sync.Mutex
	aiKW, miningKW, impKW float64
}

// Start brings up the firmware endpoints and meters on loopback.
func Start(cfg Config) (*Site, error) {
	if cfg.Tick == 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	s := &Site{cfg: cfg, start: time.Now(), miners: map[string]*simfw.Miner{}, Endpoints: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	for _, ms := range cfg.Miners {
		m, err := simfw.NewMiner(ms.Model, simfw.SystemClock{})
		if err != nil {
			return nil, err
		}
		log := cfg.Logger.With().Str("sim", "firmware").Str("worker", ms.Worker).Logger()
		var addr string
		switch ms.Firmware {
		case "luxos":
			srv := simfw.NewLuxOS(m, simfw.SystemClock{}, 5*time.Minute, log)
			a, err := srv.Listen("127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			s.servers = append(s.servers, srv)
			addr = a.String()
		case "braiins":
			srv := simfw.NewBraiins(m, simfw.SystemClock{}, "root", "root", 30*time.Minute, log)
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
	var err error
	if s.grid, err = simmeter.NewModbusServer(simmeter.ModbusConfig{SunSpecModel: 203, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	if err := s.grid.Start(); err != nil {
		return nil, err
	}
	if s.feeder, err = simmeter.NewModbusServer(simmeter.ModbusConfig{Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	if err := s.feeder.Start(); err != nil {
		return nil, err
	}
	s.update(time.Now())
	ok = true
	return s, nil
}

// GridMeter is the SunSpec meter at the import point (host:port).
func (s *Site) GridMeter() string { return s.grid.Addr() }

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
		case now := <-t.C:
			s.update(now)
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

func (s *Site) update(now time.Time) {
	ai := s.AILoad(now.Sub(s.start))
	var mining float64
	for _, m := range s.miners {
		mining += m.State().PowerW / 1000
	}
	s.grid.SetPower((ai + mining) * 1000)
	s.feeder.SetPower(mining * 1000)
	s.mu.Lock()
	s.aiKW, s.miningKW, s.impKW = ai, mining, ai+mining
	s.mu.Unlock()
}

// Power returns the AI load, mining load and site import in kW as last metered.
func (s *Site) Power() (aiKW, miningKW, importKW float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aiKW, s.miningKW, s.impKW
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
	if s.feeder != nil {
		s.feeder.Stop()
	}
}
