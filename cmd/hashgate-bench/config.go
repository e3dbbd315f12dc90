package main

import (
	"errors"
	"time"

	"github.com/hashgate/hashgate/stratum/work"
)

// benchConfig is one benchmark run.
type benchConfig struct {
	// Miners is the number of fleet connections.
	Miners int `json:"miners"`
	// Protocol is what the miners speak: "sv1", "sv2" (Noise to the proxy's V2 port) or
	// "mixed" (half each, interleaved).
	Protocol string `json:"protocol"`
	// V2Standard makes SV2 miners open standard channels instead of extended ones.
	V2Standard bool `json:"sv2_standard,omitempty"`
	// Duration is the measured load window; Warmup precedes it and is not measured.
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
	// Rate is the fleet's target of shares per second (0: closed loop, as fast as
	// MaxInflight per miner lets through).
	Rate        float64 `json:"rate"`
	MaxInflight int     `json:"max_inflight"`
	Pacers      int     `json:"pacers"`
	// MinerDifficulty is the difficulty the proxy gives miners (pinned: vardiff off).
	MinerDifficulty float64 `json:"miner_difficulty"`
	// PoolDifficulty is the simulated pool's; 0 derives it from ForwardRatio.
	PoolDifficulty float64 `json:"pool_difficulty"`
	// ForwardRatio is the fraction of miner shares that meet the pool's target.
	ForwardRatio float64 `json:"forward_ratio"`
	// SubmitRate is the proxy's per-miner submit limit (0: ample for the run).
	SubmitRate float64 `json:"proxy_submit_rate"`
	// Proxy is an external proxy's address ("" : run one).
	Proxy string `json:"external_proxy,omitempty"`
	// InProc runs the proxy in this process instead of a child.
	InProc bool `json:"inproc"`
	// PoolListen is where the simulated pool listens.
	PoolListen string `json:"pool_listen"`
	// IdleBlocks and LoadBlocks are how many new blocks are timed before and during load.
	IdleBlocks int `json:"idle_blocks"`
	LoadBlocks int `json:"load_blocks"`
	// ConnectTimeout bounds connecting the fleet; BlockTimeout one block's propagation.
	ConnectTimeout time.Duration `json:"connect_timeout"`
	BlockTimeout   time.Duration `json:"block_timeout"`
	// DialConcurrency bounds the fleet's connects in flight.
	DialConcurrency int `json:"dial_concurrency"`
	// MinersPerAddress is the most miners one fleet dials to one proxy address: about 28,000
	// ephemeral ports per destination cap it. More miners are split over fleets dialing
	// proxy listeners on 127.0.0.2, 127.0.0.3, ... (V1 only).
	MinersPerAddress int `json:"miners_per_address"`
	// WorkerNames is the proxy's worker_names. The default, pool_user_only, keeps the
	// upstream out of the measurement: with passthrough the proxy authorizes every worker at
	// the pool, and at 10,000 and more workers that burst fills the simulated pool's
	// 1,024-line client queue, so the pool drops the proxy (as it drops a client that does
	// not read) and the fleet goes without blocks while the proxy backs off.
	WorkerNames string `json:"worker_names"`
	// Storm, after the load window, drops every miner at once and connects as many fresh
	// ones all at once, timing until each is subscribed and has a job.
	Storm bool `json:"storm,omitempty"`
	// CPUProfile, if set, is where the proxy child writes a CPU profile of the load window.
	CPUProfile string `json:"cpu_profile,omitempty"`
	// HeapProfile and GoroutineProfile, if set, are where the proxy child writes its heap
	// profile (after a GC) and its goroutines (text) with the fleet connected and idle: what
	// each miner connection holds.
	HeapProfile      string `json:"heap_profile,omitempty"`
	GoroutineProfile string `json:"goroutine_profile,omitempty"`
}

func defaultBenchConfig() benchConfig {
	return benchConfig{
		Miners:           1000,
		Protocol:         protoSV1,
		Duration:         10 * time.Second,
		Warmup:           2 * time.Second,
		MaxInflight:      4,
		Pacers:           2,
		MinerDifficulty:  1e-10,
		ForwardRatio:     0.01,
		PoolListen:       "127.0.0.1:0",
		IdleBlocks:       5,
		LoadBlocks:       3,
		ConnectTimeout:   3 * time.Minute,
		BlockTimeout:     10 * time.Second,
		DialConcurrency:  256,
		MinersPerAddress: 25000,
		WorkerNames:      "pool_user_only",
	}
}

func (c *benchConfig) validate() error {
	switch {
	case c.Miners < 1:
		return errors.New("-miners must be >= 1")
	case c.Duration <= 0:
		return errors.New("-duration must be > 0")
	case c.Warmup < 0:
		return errors.New("-warmup must be >= 0")
	case c.Rate < 0:
		return errors.New("-rate must be >= 0")
	case c.MaxInflight < 1:
		return errors.New("-max-inflight must be >= 1")
	case c.Pacers < 1:
		return errors.New("-pacers must be >= 1")
	case c.PoolDifficulty < 0:
		return errors.New("-pool-difficulty must be >= 0")
	case c.PoolDifficulty == 0 && !(c.ForwardRatio > 0 && c.ForwardRatio <= 1):
		return errors.New("-forward-ratio must be in (0, 1]")
	case c.SubmitRate < 0:
		return errors.New("-proxy-submit-rate must be >= 0")
	case c.Proxy != "" && c.InProc:
		return errors.New("-proxy and -inproc exclude each other")
	case c.IdleBlocks < 0 || c.LoadBlocks < 0:
		return errors.New("-blocks and -load-blocks must be >= 0")
	case c.ConnectTimeout <= 0 || c.BlockTimeout <= 0:
		return errors.New("timeouts must be > 0")
	case c.DialConcurrency < 1:
		return errors.New("-dial-concurrency must be >= 1")
	case c.WorkerNames != "passthrough" && c.WorkerNames != "pool_user_only":
		return errors.New("-worker-names must be passthrough or pool_user_only")
	case c.MinersPerAddress < 1 || c.MinersPerAddress > 28000:
		return errors.New("-miners-per-address must be in [1, 28000]")
	case c.Miners > c.MinersPerAddress && (c.Protocol != protoSV1 || c.Proxy != ""):
		return errors.New("more than -miners-per-address miners need SV1 miners and the proxy run here (one listener per fleet)")
	case c.Protocol != protoSV1 && c.Protocol != protoSV2 && c.Protocol != protoMixed:
		return errors.New("-protocol must be sv1, sv2 or mixed")
	case (c.HeapProfile != "" || c.GoroutineProfile != "") && (c.InProc || c.Proxy != ""):
		return errors.New("-memprofile and -goroutineprofile need the proxy in its child process")
	case c.Proxy != "" && c.Protocol != protoSV1:
		return errors.New("-proxy drives V1 miners only: the bench holds no external proxy's authority key")
	}
	if _, err := work.TargetFromDifficulty(c.MinerDifficulty); err != nil {
		return errors.New("-miner-difficulty: must be a finite number > 0")
	}
	return nil
}

// Protocols a fleet can speak.
const (
	protoSV1   = "sv1"
	protoSV2   = "sv2"
	protoMixed = "mixed"
)

// v2Miners is how many of the miners speak SV2.
func (c *benchConfig) v2Miners() int {
	switch c.Protocol {
	case protoSV2:
		return c.Miners
	case protoMixed:
		return c.Miners / 2
	}
	return 0
}

// poolDifficulty is the pool's difficulty: as configured, or the one at which ForwardRatio of
// the miners' shares meet the pool's target. Below about 2^-32 a difficulty's target saturates
// at 2^256-1, so the ratio is taken against the miners' effective difficulty.
func (c *benchConfig) poolDifficulty() float64 {
	if c.PoolDifficulty > 0 {
		return c.PoolDifficulty
	}
	t, _ := work.TargetFromDifficulty(c.MinerDifficulty)
	return t.Difficulty() / c.ForwardRatio
}

// proxySubmitRate is the per-miner limit the proxy gets: what the run needs, with room.
func (c *benchConfig) proxySubmitRate() float64 {
	if c.SubmitRate > 0 {
		return c.SubmitRate
	}
	if c.Rate == 0 {
		return 1e6 // closed loop: the in-flight bound is the limit
	}
	return max(200, 4*c.Rate/float64(c.Miners))
}
