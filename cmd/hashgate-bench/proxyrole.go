package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/stratum/noise"
)

// roleEnv selects the child role when this binary is re-executed: the environment rather
// than flags, so that a test binary can play the child too (see TestMain).
const roleEnv = "HASHGATE_BENCH_ROLE"

// childConfig is the first line the parent writes to the child's stdin.
type childConfig struct {
	PoolAddr string `json:"pool_addr"`
	Listen   string `json:"listen"`
	// ExtraListen are more V1 listen addresses, one per fleet past the first.
	ExtraListen     []string `json:"extra_listen,omitempty"`
	MinerDifficulty float64  `json:"miner_difficulty"`
	SubmitRate      float64  `json:"submit_rate"`
	WorkerNames     string   `json:"worker_names"`
	// ListenV2 and ServerKey, when ServerKey is set, open an SV2 port with that static key
	// and certificate.
	ListenV2  string         `json:"listen_v2,omitempty"`
	ServerKey *noise.KeyFile `json:"server_key,omitempty"`
}

// childHello is the child's first stdout line.
type childHello struct {
	Listen      string   `json:"listen,omitempty"`
	ExtraListen []string `json:"extra_listen,omitempty"`
	ListenV2    string   `json:"listen_v2,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// childCommand is one request on the child's stdin.
type childCommand struct {
	Op   string `json:"op"`   // "sample", "profile-start", "profile-stop", "write-profile"
	GC   bool   `json:"gc"`   // sample: collect garbage and return memory to the OS first
	Path string `json:"path"` // profile-start, write-profile: output file
	// Name is write-profile's runtime/pprof profile: "heap" (after a GC, so it shows what
	// is live) or "goroutine" (text, goroutines grouped by stack with their counts).
	Name string `json:"name,omitempty"`
}

// proxySample is the proxy's side of a measurement point.
type proxySample struct {
	HasCPU bool          `json:"-"`
	User   time.Duration `json:"user_ns"`
	Sys    time.Duration `json:"sys_ns"`
	HasMem bool          `json:"-"`
	Mem    procMemory    `json:"mem"`

	HasRuntime bool   `json:"-"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
	GoSys      uint64 `json:"go_sys"`
	NumGC      uint32 `json:"num_gc"`

	Status *proxy.Status `json:"status,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// proxyConfig is the proxy configuration every mode uses: one pool, and the miners'
// difficulty pinned (initial = min = max) so that vardiff does not move it during the run.
func proxyConfig(cc childConfig) proxy.Config {
	poolAddr, minerDiff, submitRate := cc.PoolAddr, cc.MinerDifficulty, cc.SubmitRate
	cfg := proxy.DefaultConfig()
	cfg.Pools = []proxy.PoolConfig{{Name: "sim", URL: "stratum+tcp://" + poolAddr, User: "bench", Password: "x"}}
	cfg.Difficulty = proxy.DifficultyConfig{
		Initial: minerDiff, Min: minerDiff, Max: minerDiff,
		SharesPerMinute: 6000, RetargetEvery: proxy.Duration(time.Hour),
	}
	cfg.SubmitRate = submitRate
	cfg.WorkerNames = cc.WorkerNames
	return cfg
}

// runtimeSample fills the Go runtime figures of this process.
func runtimeSample(s *proxySample, gc bool) {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HasRuntime = true
	s.Goroutines = runtime.NumGoroutine()
	s.HeapInuse, s.HeapAlloc, s.StackInuse, s.GoSys, s.NumGC = ms.HeapInuse, ms.HeapAlloc, ms.StackInuse, ms.Sys, ms.NumGC
}

// runProxyRole is the child: it reads its childConfig from stdin, runs the proxy, announces
// the listen address, then answers commands until stdin closes.
func runProxyRole(stdin io.Reader, stdout io.Writer) int {
	if _, err := raiseNoFile(1 << 20); err != nil {
		fmt.Fprintln(os.Stderr, "hashgate-bench proxy: raising RLIMIT_NOFILE:", err)
	}
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(stdout)
	fail := func(err error) int {
		enc.Encode(childHello{Error: err.Error()})
		return 1
	}
	if !in.Scan() {
		return fail(errors.New("no configuration on stdin"))
	}
	var cc childConfig
	if err := json.Unmarshal(in.Bytes(), &cc); err != nil {
		return fail(fmt.Errorf("configuration: %w", err))
	}
	p, err := proxy.New(proxyConfig(cc), proxy.Options{})
	if err != nil {
		return fail(err)
	}
	p.Start(context.Background())
	defer p.Close()
	hello, err := listen(p, cc)
	if err != nil {
		return fail(err)
	}
	if err := enc.Encode(hello); err != nil {
		return 1
	}
	var profiling *os.File
	defer func() {
		if profiling != nil {
			pprof.StopCPUProfile()
			profiling.Close()
		}
	}()
	for in.Scan() {
		var c childCommand
		var s proxySample
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			s.Error = err.Error()
			enc.Encode(&s)
			continue
		}
		switch c.Op {
		case "sample":
			runtimeSample(&s, c.GC)
			u, sy, err := cpuTime()
			if err != nil {
				s.Error = err.Error()
			}
			s.User, s.Sys = u, sy
			st := p.Status()
			s.Status = &st
		case "profile-start":
			f, err := os.Create(c.Path)
			if err == nil {
				err = pprof.StartCPUProfile(f)
				if err != nil {
					f.Close()
				} else {
					profiling = f
				}
			}
			if err != nil {
				s.Error = err.Error()
			}
		case "profile-stop":
			if profiling != nil {
				pprof.StopCPUProfile()
				s.Error = errString(profiling.Close())
				profiling = nil
			}
		case "write-profile":
			s.Error = errString(writeProfile(c.Name, c.Path))
		default:
			s.Error = "unknown op " + c.Op
		}
		if err := enc.Encode(&s); err != nil {
			return 1
		}
	}
	return 0
}

// listen opens the proxy's V1 port and, when the configuration carries a server key, its V2
// port.
func listen(p *proxy.Proxy, cc childConfig) (childHello, error) {
	var h childHello
	a, err := p.ListenV1(cc.Listen)
	if err != nil {
		return h, err
	}
	h.Listen = a.String()
	for _, addr := range cc.ExtraListen {
		a, err := p.ListenV1(addr)
		if err != nil {
			return h, err
		}
		h.ExtraListen = append(h.ExtraListen, a.String())
	}
	if cc.ServerKey == nil {
		return h, nil
	}
	static, cert, _, err := cc.ServerKey.Server()
	if err != nil {
		return h, err
	}
	if a, err = p.ListenV2(cc.ListenV2, static, cert); err != nil {
		return h, err
	}
	h.ListenV2 = a.String()
	return h, nil
}

// writeProfile writes one of this process's runtime profiles to path: the heap after a
// collection (live objects and where they were allocated), or the goroutines as text.
func writeProfile(name, path string) error {
	debugLevel := 0
	switch name {
	case "heap":
		runtime.GC()
	case "goroutine":
		debugLevel = 1
	default:
		return fmt.Errorf("unknown profile %q", name)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, debugLevel); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
