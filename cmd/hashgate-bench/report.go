package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/loadfleet"
)

// report is a run's result; it is printed as a table or as JSON.
type report struct {
	Config benchConfig `json:"config"`
	Env    struct {
		Started        time.Time `json:"started"`
		LoadStart      string    `json:"loadavg_start"`
		LoadEnd        string    `json:"loadavg_end"`
		CPUs           int       `json:"cpus"`
		GoVersion      string    `json:"go_version"`
		ProxyMode      string    `json:"proxy_mode"`
		PoolAddr       string    `json:"pool_addr"`
		PoolDifficulty float64   `json:"pool_difficulty"`
		NoFile         uint64    `json:"rlimit_nofile"`
		Fleets         int       `json:"fleets"`
	} `json:"env"`
	Connect      connectReport `json:"connect"`
	Memory       *memoryReport `json:"proxy_memory,omitempty"`
	Throughput   throughput    `json:"throughput"`
	ShareLatency struct {
		Reply         loadfleet.Summary      `json:"reply"`
		Pool          loadfleet.Summary      `json:"proxy_added_to_pool"`
		Tracker       loadfleet.TrackerStats `json:"tracker"`
		PoolSubmits   uint64                 `json:"pool_submit_lines"`
		PoolUnmatched uint64                 `json:"pool_unmatched"`
	} `json:"share_latency"`
	Jobs struct {
		Idle blockReport `json:"idle"`
		Load blockReport `json:"under_load"`
	} `json:"new_block_to_miners"`
	Fleet       loadfleet.Stats   `json:"fleet"`
	Storm       *stormReport      `json:"reconnect_storm,omitempty"`
	ProxyDrops  map[string]uint64 `json:"proxy_drops,omitempty"`
	ProxyShares map[string]uint64 `json:"proxy_shares_window,omitempty"`
}

// connectReport is how the fleet connected. The V2 figures say what Noise costs: handshakes
// completed per second of the dial phase (DialConcurrency in flight), each one's time at the
// miner, and the CPU both sides spent per connection (handshake, setup, channel, first job).
type connectReport struct {
	Miners      int     `json:"live"`
	Ready       int     `json:"ready"`
	Seconds     float64 `json:"seconds"`
	DialSeconds float64 `json:"dial_seconds"`

	V2Miners             int                `json:"v2_miners,omitempty"`
	Handshakes           uint64             `json:"noise_handshakes,omitempty"`
	HandshakesPerSec     float64            `json:"noise_handshakes_per_s,omitempty"`
	Handshake            *loadfleet.Summary `json:"noise_handshake,omitempty"`
	ProxyCPUPerConnectUs float64            `json:"proxy_cpu_us_per_connect,omitempty"`
	BenchCPUPerConnectUs float64            `json:"bench_cpu_us_per_connect,omitempty"`
}

// fillConnect takes the fleet's view of the connect phase; benchCPU is this process's CPU
// time across it.
func (r *report) fillConnect(st loadfleet.Stats, hs *loadfleet.Histogram, benchCPU time.Duration) {
	c := &r.Connect
	c.DialSeconds, c.V2Miners, c.Handshakes = st.DialSeconds, st.V2Miners, st.NoiseHandshakes
	if st.Live > 0 {
		c.BenchCPUPerConnectUs = float64(benchCPU.Microseconds()) / float64(st.Live)
	}
	if st.NoiseHandshakes == 0 {
		return
	}
	if st.DialSeconds > 0 {
		c.HandshakesPerSec = float64(st.NoiseHandshakes) / st.DialSeconds
	}
	s := hs.Summarize()
	c.Handshake = &s
}

// fillConnectProxy adds the proxy's CPU time per connection, from samples before and after.
func (r *report) fillConnectProxy(base, raw proxySample) {
	if !base.HasCPU || !raw.HasCPU || r.Connect.Miners == 0 {
		return
	}
	cpu := raw.User + raw.Sys - base.User - base.Sys
	r.Connect.ProxyCPUPerConnectUs = float64(cpu.Microseconds()) / float64(r.Connect.Miners)
}

// blockReport is how new blocks reached the fleet.
type blockReport struct {
	Blocks      int               `json:"blocks"`
	Missing     int               `json:"missing_miner_blocks"`
	PerMiner    loadfleet.Summary `json:"per_miner"`
	LastMinerMs []float64         `json:"last_miner_ms"`
	// ProxyCPUPerMinerUs and BenchCPUPerMinerUs (idle blocks only) are the CPU each side
	// spent per miner and block: the proxy's fan-out and writes, and the fleet reading and
	// decoding the notify (with the pool's broadcast). On one machine both share the cores,
	// so the last miner's time cannot beat their sum over the cores.
	ProxyCPUPerMinerUs float64 `json:"proxy_cpu_us_per_miner,omitempty"`
	BenchCPUPerMinerUs float64 `json:"bench_cpu_us_per_miner,omitempty"`
}

// fillCPU takes the CPU both processes spent across the blocks: the proxy's from samples
// before and after (when it has them), this process's as benchCPU.
func (r *blockReport) fillCPU(before, after proxySample, benchCPU time.Duration, miners int) {
	n := float64(r.Blocks * miners)
	if n == 0 {
		return
	}
	r.BenchCPUPerMinerUs = float64(benchCPU.Nanoseconds()) / 1e3 / n
	if before.HasCPU && after.HasCPU {
		r.ProxyCPUPerMinerUs = float64((after.User + after.Sys - before.User - before.Sys).Nanoseconds()) / 1e3 / n
	}
}

// memoryReport is the proxy child's memory, and what lies behind it.
type memoryReport struct {
	Includes        string  `json:"includes"`
	BaseRSSKiB      uint64  `json:"base_rss_kib"`
	ConnectedRaw    uint64  `json:"connected_rss_kib"`
	ConnectedGC     uint64  `json:"connected_rss_after_gc_kib"`
	LoadRSSKiB      uint64  `json:"load_end_rss_kib"`
	PeakRSSKiB      uint64  `json:"peak_rss_kib"`
	PerMinerKiB     float64 `json:"per_miner_kib"`
	PerMinerRawKiB  float64 `json:"per_miner_before_gc_kib"`
	PerMinerLoadKiB float64 `json:"per_miner_under_load_kib"`
	GoroutinesPer   float64 `json:"goroutines_per_miner"`
	HeapPerMinerB   float64 `json:"heap_inuse_per_miner_bytes"`
	StackPerMinerB  float64 `json:"stack_inuse_per_miner_bytes"`
}

// throughput is the load window's rates.
type throughput struct {
	WindowSec        float64 `json:"window_s"`
	SubmittedPerSec  float64 `json:"submitted_per_s"`
	RepliesPerSec    float64 `json:"replies_per_s"`
	AcceptedPerSec   float64 `json:"accepted_per_s"`
	PoolAcceptPerSec float64 `json:"pool_accepted_per_s"`
	PoolRejected     uint64  `json:"pool_rejected"`
	ForwardedRatio   float64 `json:"forwarded_ratio"`
	ProxyCPUCores    float64 `json:"proxy_cpu_cores,omitempty"`
	ProxyCPUPerShare float64 `json:"proxy_cpu_us_per_share,omitempty"`
	BenchCPUCores    float64 `json:"bench_cpu_cores"`
	BenchCPUPerShare float64 `json:"bench_cpu_us_per_share"`
}

// fill computes the derived figures from the measurement points.
func (r *report) fill(cfg benchConfig, base, raw, settled proxySample, start, end point) {
	live := float64(r.Connect.Miners)
	if base.HasMem && settled.HasMem && live > 0 {
		m := &memoryReport{
			Includes: "VmRSS of the proxy child process (Go heap, goroutine stacks, runtime, binary text); " +
				"kernel socket buffers are not in RSS. Per miner = (connected - base) / miners.",
			BaseRSSKiB: base.Mem.RSS, ConnectedRaw: raw.Mem.RSS, ConnectedGC: settled.Mem.RSS,
			LoadRSSKiB: end.proxy.Mem.RSS, PeakRSSKiB: end.proxy.Mem.HWM,
		}
		per := func(v uint64) float64 { return (float64(v) - float64(base.Mem.RSS)) / live }
		m.PerMinerKiB, m.PerMinerRawKiB, m.PerMinerLoadKiB = per(settled.Mem.RSS), per(raw.Mem.RSS), per(end.proxy.Mem.RSS)
		m.GoroutinesPer = float64(settled.Goroutines-base.Goroutines) / live
		m.HeapPerMinerB = (float64(settled.HeapInuse) - float64(base.HeapInuse)) / live
		m.StackPerMinerB = (float64(settled.StackInuse) - float64(base.StackInuse)) / live
		r.Memory = m
	}
	w := end.at.Sub(start.at).Seconds()
	t := &r.Throughput
	t.WindowSec = w
	replies := float64(end.fleet.Replies - start.fleet.Replies)
	t.SubmittedPerSec = float64(end.fleet.Submitted-start.fleet.Submitted) / w
	t.RepliesPerSec = replies / w
	t.AcceptedPerSec = float64(end.fleet.Accepted-start.fleet.Accepted) / w
	t.PoolAcceptPerSec = float64(end.poolAcc-start.poolAcc) / w
	t.PoolRejected = end.poolRej - start.poolRej
	if replies > 0 {
		t.ForwardedRatio = float64(end.tapSubs-start.tapSubs) / replies
	}
	if start.proxy.HasCPU && end.proxy.HasCPU {
		cpu := (end.proxy.User + end.proxy.Sys - start.proxy.User - start.proxy.Sys).Seconds()
		t.ProxyCPUCores = cpu / w
		if replies > 0 {
			t.ProxyCPUPerShare = cpu / replies * 1e6
		}
	}
	benchCPU := (end.user + end.sys - start.user - start.sys).Seconds()
	t.BenchCPUCores = benchCPU / w
	if replies > 0 {
		t.BenchCPUPerShare = benchCPU / replies * 1e6
	}
	if end.proxy.Status != nil {
		r.ProxyDrops = nonZero(end.proxy.Status.Drops)
		if start.proxy.Status != nil {
			r.ProxyShares = delta(start.proxy.Status, end.proxy.Status)
		}
	}
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func delta(a, b *proxy.Status) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range b.Shares {
		if d := v - a.Shares[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// print writes the human table.
func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, args...))
	}
	sec := func(s string) { fmt.Fprintf(tw, "%s\n", s) }
	c := r.Config
	sec("hashgate-bench")
	row("proxy", "%s", r.Env.ProxyMode)
	row("machine", "%d CPUs, %s; load average %s at start, %s at end", r.Env.CPUs, r.Env.GoVersion, r.Env.LoadStart, r.Env.LoadEnd)
	row("fleet", "%d miners (%s) in %d fleet(s), rate %s, max %d in flight per miner, %d pacers each", c.Miners, protoText(c), r.Env.Fleets, rateText(c.Rate), c.MaxInflight, c.Pacers)
	row("difficulty", "miners %g, pool %.6g (forward ratio %.4g)", c.MinerDifficulty, r.Env.PoolDifficulty, r.Throughput.ForwardedRatio)
	cr := r.Connect
	row("connect", "%d live, %d ready in %.2f s (dial phase %.2f s)", cr.Miners, cr.Ready, cr.Seconds, cr.DialSeconds)
	if cr.Handshake != nil {
		row("noise handshakes", "%d at %.0f /s; each %s", cr.Handshakes, cr.HandshakesPerSec, sumText(*cr.Handshake))
	}
	if cr.ProxyCPUPerConnectUs > 0 {
		row("CPU per connection", "proxy %.0f µs, bench %.0f µs (handshake, setup, first job)", cr.ProxyCPUPerConnectUs, cr.BenchCPUPerConnectUs)
	}
	sec("throughput (load window)")
	t := r.Throughput
	row("window", "%.2f s", t.WindowSec)
	row("shares answered by proxy", "%.0f /s (accepted %.0f /s, submitted %.0f /s)", t.RepliesPerSec, t.AcceptedPerSec, t.SubmittedPerSec)
	row("forwarded, pool accepted", "%.0f /s (pool rejected %d)", t.PoolAcceptPerSec, t.PoolRejected)
	if t.ProxyCPUCores > 0 {
		row("proxy CPU", "%.2f cores, %.1f µs per share", t.ProxyCPUCores, t.ProxyCPUPerShare)
	} else {
		row("proxy CPU", "n/a (%s)", r.Env.ProxyMode)
	}
	row("bench CPU (fleet+pool)", "%.2f cores, %.1f µs per share", t.BenchCPUCores, t.BenchCPUPerShare)
	sec("share latency (load window)")
	sl := r.ShareLatency
	if r.Env.Fleets > 1 {
		row("submit → reply at miner (first fleet)", "%s", sumText(sl.Reply))
	} else {
		row("submit → reply at miner", "%s", sumText(sl.Reply))
	}
	row("proxy-added (miner write → pool read)", "%s", sumText(sl.Pool))
	row("tracked shares", "%d written, %d matched at pool, %d never reached pool, %d pool submits unmatched",
		sl.Tracker.Added, sl.Tracker.Taken, sl.Tracker.Pending, sl.PoolUnmatched)
	sec("new block → every miner has the new prevhash (V1 clean notify, V2 SetNewPrevHash)")
	for _, b := range []struct {
		name string
		r    blockReport
	}{{"idle", r.Jobs.Idle}, {"under load", r.Jobs.Load}} {
		row(b.name+" (per miner)", "%d blocks: %s; %d miner-blocks missing", b.r.Blocks, sumText(b.r.PerMiner), b.r.Missing)
		row(b.name+" (last miner)", "%s ms", floats(b.r.LastMinerMs))
		if b.r.BenchCPUPerMinerUs > 0 {
			row(b.name+" (CPU per miner and block)", "proxy %.1f µs, fleet and pool %.1f µs", b.r.ProxyCPUPerMinerUs, b.r.BenchCPUPerMinerUs)
		}
	}
	if m := r.Memory; m != nil {
		sec("proxy memory")
		row("VmRSS base → connected", "%d → %d KiB after GC (%d before GC); %d at end of load; peak %d", m.BaseRSSKiB, m.ConnectedGC, m.ConnectedRaw, m.LoadRSSKiB, m.PeakRSSKiB)
		row("per connected miner", "%.2f KiB after GC, %.2f KiB before GC, %.2f KiB under load", m.PerMinerKiB, m.PerMinerRawKiB, m.PerMinerLoadKiB)
		row("behind it, per miner", "%.2f goroutines, %.0f B heap in use, %.0f B stacks", m.GoroutinesPer, m.HeapPerMinerB, m.StackPerMinerB)
		row("includes", "%s", m.Includes)
	}
	if s := r.Storm; s != nil {
		sec("reconnect storm (every miner dropped, as many dialing at once)")
		row("ready", "%d of %d subscribed with a job in %.2f s (dial phase %.2f s, %d dial errors) %s", s.Ready, s.Miners, s.Seconds, s.DialSeconds, s.DialErrors, s.Error)
	}
	sec("counters")
	f := r.Fleet
	row("fleet", "submitted %d, replies %d, accepted %d, rejected %s", f.Submitted, f.Replies, f.Accepted, mapText(f.Rejected))
	row("fleet skips", "%s; behind schedule %d; disconnects %d", mapText(f.Skipped), f.Behind, f.Disconnects)
	if f.V2Miners > 0 {
		row("SV2 replies", "%d SubmitShares.Success frames (%.2f shares each), %d with last_sequence_number going backwards; %d replies matched no pending share",
			f.SuccessFrames, float64(f.Accepted)/max(1, float64(f.SuccessFrames)), f.SuccessBackwards, f.Unknown)
	}
	if r.ProxyShares != nil {
		row("proxy share results (window)", "%s", mapText(r.ProxyShares))
	}
	if r.ProxyDrops != nil {
		row("proxy drops", "%s", mapText(r.ProxyDrops))
	}
	tw.Flush()
}

func protoText(c benchConfig) string {
	switch {
	case c.Protocol == protoSV1:
		return "SV1"
	case c.V2Standard:
		return fmt.Sprintf("%s, %d SV2 on standard channels", c.Protocol, c.v2Miners())
	default:
		return fmt.Sprintf("%s, %d SV2 on extended channels", c.Protocol, c.v2Miners())
	}
}

func sumText(s loadfleet.Summary) string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.3f ms, p90 %.3f, p99 %.3f, max %.3f (n=%d)", s.P50Ms, s.P90Ms, s.P99Ms, s.MaxMs, s.Count)
}

func floats(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = fmt.Sprintf("%.1f", f)
	}
	return strings.Join(s, ", ")
}

func mapText(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := make([]string, 0, len(keys))
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(s, " ")
}
