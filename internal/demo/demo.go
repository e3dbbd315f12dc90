// Package demo runs a complete hashgate against simulators on loopback: a simulated pool (and
// a backup), a fleet of simulated miners that find real shares, and hashgate itself from an
// embedded default config. `hashgate demo` and the end-to-end tests use it.
package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/app"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
)

// Options tune the demo; zero values take the defaults.
type Options struct {
	// Listen is the proxy's Stratum V1 address (default 127.0.0.1:3333; use :0 in tests).
	Listen string
	// Console is the console address (default 127.0.0.1:8080).
	Console string
	// Miners is the size of the simulated fleet (default 12).
	Miners int
	// Dir holds the demo's database (default: a new temporary directory).
	Dir    string
	Logger zerolog.Logger
}

// Demo is a running demo.
type Demo struct {
	App     *app.App
	Pools   []*pool.Pool
	Miners  []*miner.Miner
	Dir     string
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

	f := config.Default()
	f.Listener = []proxy.ListenerConfig{{Protocol: "sv1", Address: o.Listen}}
	f.Pool = []proxy.PoolConfig{
		{Name: "primary", URL: "stratum+tcp://" + addrs[0], User: "demo", Password: "x", Priority: 0},
		{Name: "backup", URL: "stratum+tcp://" + addrs[1], User: "demo", Password: "x", Priority: 1},
	}
	f.Difficulty = proxy.DifficultyConfig{Initial: 0.00002, Min: 0.000005, SharesPerMinute: 30, RetargetEvery: proxy.Duration{Duration: 30 * time.Second}}
	f.Store.Path = filepath.Join(o.Dir, "hashgate.db")
	f.Console.Address = o.Console
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	a, err := app.Start(ctx, &f, o.Logger)
	if err != nil {
		return nil, err
	}
	d.App = a
	addr := a.Addrs[0].String()

	for i := 0; i < o.Miners; i++ {
		rack := 1 + i/6
		m := miner.New(miner.Config{
			Addr:           addr,
			Username:       fmt.Sprintf("rack%d.s21-%02d", rack, i%6+1),
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
	ok = true
	return d, nil
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
	for _, p := range d.Pools {
		p.Close()
	}
	if d.cleanup != nil {
		d.cleanup()
	}
}
