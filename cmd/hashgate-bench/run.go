package main

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/loadfleet"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/noise"
)

// point is everything read at one instant of the load window.
type point struct {
	at       time.Time
	fleet    loadfleet.Stats
	proxy    proxySample
	user     time.Duration // this process (fleet + pool)
	sys      time.Duration
	poolAcc  uint64
	poolRej  uint64
	tapSubs  uint64
	proxyErr error
}

// bench is one run's parties.
type bench struct {
	cfg    benchConfig
	log    zerolog.Logger
	pool   *simpool.Pool
	tap    *submitTap
	fleets fleetSet
	proxy  proxyUnderTest
}

// run performs a whole benchmark and returns its report. logf receives progress lines.
func run(ctx context.Context, cfg benchConfig, logf func(format string, args ...any)) (*report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rep := &report{Config: cfg}
	rep.Env.Started = time.Now().UTC()
	rep.Env.LoadStart = loadAvg()
	rep.Env.CPUs = runtime.NumCPU()
	rep.Env.GoVersion = runtime.Version()
	rep.Env.PoolDifficulty = cfg.poolDifficulty()
	nofile, err := raiseNoFile(uint64(cfg.Miners)*2 + 4096)
	if err != nil {
		return nil, fmt.Errorf("raising RLIMIT_NOFILE: %w", err)
	}
	rep.Env.NoFile = nofile

	b := &bench{cfg: cfg, log: zerolog.Nop()}
	defer b.close()
	epoch := time.Now()
	tracker := loadfleet.NewTracker()
	b.tap = &submitTap{now: func() int64 { return int64(time.Since(epoch)) }, tracker: tracker}

	pc := simpool.DefaultConfig()
	pc.Difficulty = rep.Env.PoolDifficulty
	pc.JobInterval, pc.BlockInterval = 0, 0 // blocks come when the bench asks
	if b.pool, err = simpool.New(pc); err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	pl, err := net.Listen("tcp", cfg.PoolListen)
	if err != nil {
		return nil, fmt.Errorf("pool listen: %w", err)
	}
	b.pool.Serve(b.tap.listener(pl))
	rep.Env.PoolAddr = pl.Addr().String()
	logf("pool listening on %s, difficulty %g", rep.Env.PoolAddr, rep.Env.PoolDifficulty)

	listens := listenAddrs(cfg.fleetCount())
	cc := childConfig{PoolAddr: rep.Env.PoolAddr, Listen: listens[0], ExtraListen: listens[1:], MinerDifficulty: cfg.MinerDifficulty, SubmitRate: cfg.proxySubmitRate(), WorkerNames: cfg.WorkerNames}
	var authority noise.AuthorityPublicKey
	if cfg.v2Miners() > 0 {
		if authority, cc.ServerKey, err = newV2Keys(time.Now()); err != nil {
			return nil, err
		}
		cc.ListenV2 = "127.0.0.1:0"
	}
	switch {
	case cfg.Proxy != "":
		b.proxy = externalProxy{addr: cfg.Proxy}
	case cfg.InProc:
		if b.proxy, err = startInprocProxy(cc); err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	default:
		if b.proxy, err = startChildProxy(cc); err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	rep.Env.ProxyMode = b.proxy.Mode()
	logf("proxy: %s at %s (V1), %s (V2)", rep.Env.ProxyMode, b.proxy.Addr(), b.proxy.AddrV2())

	fc := loadfleet.DefaultConfig()
	fc.Miners, fc.Rate = cfg.Miners, cfg.Rate
	fc.V2Miners, fc.V2Addr, fc.Authority, fc.V2Standard = cfg.v2Miners(), b.proxy.AddrV2(), authority, cfg.V2Standard
	fc.MaxInflight, fc.Pacers, fc.DialConcurrency = cfg.MaxInflight, cfg.Pacers, cfg.DialConcurrency
	fc.TrackDifficulty, fc.Epoch, fc.Tracker = rep.Env.PoolDifficulty, epoch, tracker
	addrs := b.proxy.Addrs()
	if b.fleets, err = newFleetSet(fc, addrs); err != nil {
		return nil, err
	}
	rep.Env.Fleets = len(b.fleets)

	// Memory before any miner: the proxy with its pool connection up.
	base, err := b.proxy.Sample(true)
	if err != nil {
		return nil, fmt.Errorf("sampling proxy: %w", err)
	}
	logf("connecting %d miners (%d SV2)", cfg.Miners, cfg.v2Miners())
	u0, s0, _ := cpuTime()
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	err = b.fleets.Connect(cctx)
	cancel()
	rep.Connect.Seconds = time.Since(t0).Seconds()
	u1, s1, _ := cpuTime()
	st := b.fleets.Stats()
	rep.Connect.Miners, rep.Connect.Ready = st.Live, st.Ready
	rep.fillConnect(st, b.fleets.HandshakeLatency(), u1+s1-u0-s0)
	if err != nil {
		return rep, err
	}
	logf("%d miners ready in %.1fs", st.Ready, rep.Connect.Seconds)
	raw, err := b.proxy.Sample(false)
	if err != nil {
		return rep, err
	}
	rep.fillConnectProxy(base, raw)
	settled, err := b.proxy.Sample(true)
	if err != nil {
		return rep, err
	}
	for _, pf := range []struct{ name, path string }{{"heap", cfg.HeapProfile}, {"goroutine", cfg.GoroutineProfile}} {
		if pf.path == "" {
			continue
		}
		if err := b.proxy.WriteProfile(pf.name, pf.path); err != nil {
			return rep, fmt.Errorf("%s profile: %w", pf.name, err)
		}
	}

	logf("timing %d blocks idle", cfg.IdleBlocks)
	before, beforeErr := b.proxy.Sample(false)
	bu0, bs0, _ := cpuTime()
	rep.Jobs.Idle = b.timeBlocks(ctx, cfg.IdleBlocks, nil)
	bu1, bs1, _ := cpuTime()
	if after, err := b.proxy.Sample(false); err == nil && beforeErr == nil {
		rep.Jobs.Idle.fillCPU(before, after, bu1+bs1-bu0-bs0, st.Live)
	}

	logf("load: %s warmup, %s measured, rate %s", cfg.Warmup, cfg.Duration, rateText(cfg.Rate))
	loadCtx, stopLoad := context.WithCancel(ctx)
	fleetDone := make(chan struct{})
	go func() {
		defer close(fleetDone)
		b.fleets.Run(loadCtx)
	}()
	if !sleepCtx(ctx, cfg.Warmup) {
		stopLoad()
		return rep, ctx.Err()
	}
	b.fleets.ReplyLatency().Reset()
	b.tap.hist.Reset()
	if cfg.CPUProfile != "" {
		if err := b.proxy.Profile(cfg.CPUProfile); err != nil {
			logf("cpu profile: %v", err)
		}
	}
	start := b.point()
	var sched []time.Duration
	for k := 1; k <= cfg.LoadBlocks; k++ {
		sched = append(sched, cfg.Duration*time.Duration(k)/time.Duration(cfg.LoadBlocks+1))
	}
	rep.Jobs.Load = b.timeBlocks(ctx, len(sched), func(i int) bool { return sleepUntil(ctx, start.at.Add(sched[i])) })
	sleepUntil(ctx, start.at.Add(cfg.Duration))
	end := b.point()
	if cfg.CPUProfile != "" {
		b.proxy.Profile("")
	}
	stopLoad()
	<-fleetDone
	rep.Env.LoadEnd = loadAvg()

	rep.fill(cfg, base, raw, settled, start, end)
	rep.ShareLatency.Reply = b.fleets.ReplyLatency().Summarize()
	rep.ShareLatency.Pool = b.tap.hist.Summarize()
	rep.ShareLatency.Tracker = tracker.Stats()
	rep.ShareLatency.PoolSubmits, rep.ShareLatency.PoolUnmatched = b.tap.submits.Load(), b.tap.unmatched.Load()
	rep.Fleet = b.fleets.Stats()
	if cfg.Storm {
		logf("reconnect storm: %d miners gone and back at once", cfg.Miners)
		if rep.Storm, err = b.storm(ctx, fc, addrs); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// point reads every counter at once.
func (b *bench) point() point {
	p := point{at: time.Now(), fleet: b.fleets.Stats(), poolAcc: b.pool.Accepted(), poolRej: b.pool.Rejected(), tapSubs: b.tap.submits.Load()}
	p.user, p.sys, _ = cpuTime()
	p.proxy, p.proxyErr = b.proxy.Sample(false)
	return p
}

// timeBlocks times n new blocks; before(i), if set, waits for block i's moment and reports
// whether to go on.
func (b *bench) timeBlocks(ctx context.Context, n int, before func(i int) bool) blockReport {
	var r blockReport
	var h loadfleet.Histogram
	for i := 0; i < n; i++ {
		if before != nil && !before(i) {
			break
		} else if before == nil && i > 0 && !sleepCtx(ctx, 200*time.Millisecond) {
			break
		}
		bctx, cancel := context.WithTimeout(ctx, b.cfg.BlockTimeout)
		lat, missing := b.fleets.TimeBlock(bctx, b.pool.NewBlock)
		cancel()
		var last time.Duration
		for _, d := range lat {
			h.Record(d)
			last = max(last, d)
		}
		r.Blocks++
		r.Missing += missing
		r.LastMinerMs = append(r.LastMinerMs, ms(last))
	}
	r.PerMiner = h.Summarize()
	return r
}

func (b *bench) close() {
	if b.fleets != nil {
		b.fleets.Close()
	}
	if b.proxy != nil {
		b.proxy.Close()
	}
	if b.pool != nil {
		b.pool.Close()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func sleepUntil(ctx context.Context, at time.Time) bool { return sleepCtx(ctx, time.Until(at)) }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func rateText(r float64) string {
	if r == 0 {
		return "unpaced (closed loop)"
	}
	return fmt.Sprintf("%.0f shares/s", r)
}
