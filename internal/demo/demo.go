// Package demo runs a complete hashgate against simulators on loopback: a simulated pool (and
// a backup), a fleet of simulated miners that find real shares, and hashgate itself from an
// embedded default config. `hashgate demo` and the end-to-end tests use it.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/app"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/sim/site"
)

// The demo console's operator account.
const (
	User     = "admin"
	Password = "hashgate-demo"
)

// Options tune the demo; zero values take the defaults.
type Options struct {
	// Listen is the proxy's Stratum V1 address (default 127.0.0.1:3333; use :0 in tests).
	Listen string
	// Console is the console address (default 127.0.0.1:8080).
	Console string
	// Miners is the size of the simulated fleet (default 12); the first half runs LuxOS, the
	// rest Braiins OS.
	Miners int
	// NoPolicy runs the proxy alone, without the simulated site and power policy.
	NoPolicy bool
	// SpikeEvery and SpikeFor shape the AI hall's bursts (default every 90 s for 35 s).
	SpikeEvery, SpikeFor time.Duration
	// Dir holds the demo's database (default: a new temporary directory).
	Dir    string
	Logger zerolog.Logger
}

// Demo is a running demo.
type Demo struct {
	// Config is the configuration hashgate runs with: the embedded demo.toml's [policy] and
	// [[fleet]] (nil policy without the site) completed with the simulators' addresses.
	Config  *config.File
	App     *app.App
	Site    *site.Site
	Pools   []*pool.Pool
	Miners  []*miner.Miner
	Dir     string
	siteCfg site.Config
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	cleanup func()
}

// Start brings the demo up.
func Start(ctx context.Context, o Options) (*Demo, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:3333"
	}
	if o.Console == "" {
		o.Console = "127.0.0.1:8080"
	}
	if o.Miners == 0 {
		o.Miners = 12
	}
	if o.SpikeEvery == 0 {
		o.SpikeEvery, o.SpikeFor = 90*time.Second, 35*time.Second
	}
	d := &Demo{}
	ctx, d.cancel = context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "hashgate-demo-")
		if err != nil {
			return nil, err
		}
		o.Dir = dir
		d.cleanup = func() { os.RemoveAll(dir) }
	}
	d.Dir = o.Dir

	// Two simulated pools: a primary and a backup with a wider extranonce, as real pools differ.
	var addrs []string
	for i, en2 := range []int{4, 8} {
		pc := pool.DefaultConfig()
		pc.Difficulty = 0.0005
		pc.JobInterval = 20 * time.Second
		pc.BlockInterval = 90 * time.Second
		pc.Extranonce2Size = en2
		pc.Seed = uint64(i + 1)
		pc.NBits = 0x1d13ffec // network difficulty 0.05: a block every few minutes at demo hashrate
		plog := o.Logger.With().Str("sim", fmt.Sprintf("pool%d", i)).Logger()
		pc.Logger = &plog
		p, err := pool.New(pc)
		if err != nil {
			return nil, err
		}
		a, err := p.Listen("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		d.Pools = append(d.Pools, p)
		addrs = append(addrs, a)
	}

	workers := make([]string, o.Miners)
	for i := range workers {
		workers[i] = fmt.Sprintf("rack%d.s21-%02d", 1+i*2/o.Miners, i%((o.Miners+1)/2)+1)
	}
	f := config.Default()
	f.Listener = []proxy.ListenerConfig{{Protocol: "sv1", Address: o.Listen}}
	f.Pool = []proxy.PoolConfig{
		{Name: "primary", URL: "stratum+tcp://" + addrs[0], User: "demo", Password: "x", Priority: 0},
		{Name: "backup", URL: "stratum+tcp://" + addrs[1], User: "demo", Password: "x", Priority: 1},
	}
	f.Difficulty = proxy.DifficultyConfig{Initial: 0.00002, Min: 0.000005, SharesPerMinute: 30, RetargetEvery: proxy.Duration(30 * time.Second)}
	f.Store.Path = filepath.Join(o.Dir, "hashgate.db")
	f.Console.Address = o.Console
	// The demo's operator: no anonymous control, even on loopback.
	hash, err := console.HashPassword(Password)
	if err != nil {
		return nil, err
	}
	f.Console.Users = []console.UserConfig{{Name: User, PasswordHash: hash, Role: console.RoleAdmin}}
	if !o.NoPolicy {
		if err := d.startSite(ctx, &f, workers, o); err != nil {
			return nil, err
		}
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	d.Config = &f
	a, err := app.Start(ctx, &f, o.Logger)
	if err != nil {
		return nil, err
	}
	d.App = a
	addr := a.Addrs[0].String()

	for i := 0; i < o.Miners; i++ {
		m := miner.New(miner.Config{
			Addr:           addr,
			Username:       workers[i],
			UserAgent:      "hashgate-sim-miner/1.0",
			HashRate:       float64(40_000 + 10_000*(i%4)),
			VersionRolling: i%3 != 0,
			Reconnect:      true,
		})
		d.Miners = append(d.Miners, m)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			m.Run(ctx)
		}()
	}
	if d.Site != nil {
		// The stratum miners hash at the speed their (simulated) hardware runs: asleep when
		// the firmware put it to sleep, slower when throttled.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					for _, m := range d.Miners {
						m.SetHashRate(baseRate(m) * d.Site.HashFraction(m.Worker()))
					}
				}
			}
		}()
	}
	ok = true
	return d, nil
}

var baseRates sync.Map

func baseRate(m *miner.Miner) float64 {
	v, _ := baseRates.LoadOrStore(m, m.HashRate())
	return v.(float64)
}

//go:embed demo.toml
var siteTOML string

// siteConfig reads the embedded demo.toml: the site's [policy] and [[fleet]] groups.
func siteConfig() (*policy.Config, []policy.FleetGroup, error) {
	v := struct {
		Policy policy.Config       `toml:"policy"`
		Fleet  []policy.FleetGroup `toml:"fleet"`
	}{Policy: policy.DefaultConfig()}
	md, err := toml.Decode(siteTOML, &v)
	if err != nil {
		return nil, nil, fmt.Errorf("demo.toml: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, nil, fmt.Errorf("demo.toml: unknown key %s", und[0])
	}
	return &v.Policy, v.Fleet, nil
}

// startSite simulates the site demo.toml describes: an AI hall (45 kW, bursting to 85 kW for
// SpikeFor every SpikeEvery) on its own Janitza meter, 4 kW of cooling and offices no sub-meter
// sees (4 kW more for 40 s of every 150 s: a chiller stage), and the fleet (S21-class miners on
// LuxOS at 3.5 kW, S19-class on Braiins OS at 3.0 kW with power targets) on an SDM630 feeder
// meter. The grid meter reads all of it. Out of a burst the whole default fleet (39 kW) fits
// under the limit less the margin, chiller stage or not.
func (d *Demo) startSite(ctx context.Context, f *config.File, workers []string, o Options) error {
	pc, fleet, err := siteConfig()
	if err != nil {
		return err
	}
	half := (len(workers) + 1) / 2
	var specs []site.MinerSpec
	for i, w := range workers {
		m := simfw.DefaultMinerConfig()
		m.RampDown, m.RampUp = 3*time.Second, 6*time.Second
		fw := "luxos"
		if i >= half {
			fw = "braiins"
			m.NominalW, m.NominalTHs, m.MinW, m.MaxW = 3000, 140, 1500, 3200
			m.Profiles = nil
		}
		specs = append(specs, site.MinerSpec{Worker: w, Firmware: fw, Model: m})
	}
	d.siteCfg = site.Config{
		Miners: specs, AIBaseKW: 45, AISpikeKW: 85, SpikeEvery: o.SpikeEvery, SpikeFor: o.SpikeFor,
		UnmeteredKW: 4, UnmeteredStepKW: 4, UnmeteredStepEvery: 150 * time.Second, UnmeteredStepFor: 40 * time.Second,
		Logger: o.Logger.With().Str("sim", "site").Logger(),
	}
	s, err := site.Start(d.siteCfg)
	if err != nil {
		return err
	}
	d.Site = s
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		s.Run(ctx)
	}()
	f.Policy = pc
	for i := range fleet {
		g := &fleet[i]
		g.Addresses = map[string]string{}
		for _, w := range workers {
			if g.Match(w, netip.Addr{}) {
				g.Addresses[w] = s.Endpoints[w]
			}
		}
	}
	f.Fleet = fleet
	grid := meter.DefaultConfig()
	grid.Name, grid.Role, grid.Source, grid.Address, grid.Map = "grid", meter.RoleSiteImport, meter.KindModbus, s.GridMeter(), meter.MapSunSpec
	grid.Interval = meter.Duration(500 * time.Millisecond)
	ai := meter.DefaultConfig()
	ai.Name, ai.Role, ai.Source, ai.Address, ai.Map = "ai-hall", meter.RoleAILoad, meter.KindModbus, s.AIMeter(), meter.MapJanitza
	ai.Interval = meter.Duration(500 * time.Millisecond)
	feeder := meter.DefaultConfig()
	feeder.Name, feeder.Role, feeder.Source, feeder.Address, feeder.Map = "mining-feeder", meter.RoleMiningLoad, meter.KindModbus, s.FeederMeter(), meter.MapSDM630
	feeder.Interval = meter.Duration(500 * time.Millisecond)
	f.Meter = []meter.Config{grid.WithDefaults(), ai.WithDefaults(), feeder.WithDefaults()}
	return nil
}

// Close stops the miners, hashgate and the pools.
func (d *Demo) Close() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	if d.App != nil {
		d.App.Close()
	}
	if d.Site != nil {
		d.Site.Close()
	}
	for _, p := range d.Pools {
		p.Close()
	}
	if d.cleanup != nil {
		d.cleanup()
	}
}
