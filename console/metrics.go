package console

import (
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashgate/hashgate/policy"
)

// collector reads Backend snapshots at scrape time. Label values come from configuration
// (pools, groups, meters), fixed enums (results, reasons, states) or, for the optional
// per-worker series, at most metrics_worker_cap worker names.
type collector struct {
	s *Server

	mu          sync.Mutex
	prev        map[uint64]workerCounts             // per connection, to turn snapshots into monotonic group counters
	groupTotals map[string]*[numGroupResults]uint64 // group → result → count

	buildInfo, miners, hashrate, shares, blocks                              *prometheus.Desc
	groupShares, groupHashrate, groupWorkers, groupDiff                      *prometheus.Desc
	poolShares, poolUp, poolActive, poolConns, poolLatency, poolDiff, poolHR *prometheus.Desc
	drops                                                                    *prometheus.Desc
	poolUnknown, poolUnforwarded                                             *prometheus.Desc
	poolWeight, poolAcceptedDiff                                             *prometheus.Desc
	polEnabled, polKW, polMode, polCap, polSteps, polApplied, polFailed      *prometheus.Desc
	polDecisions, polPausedGroups, polDRActive                               *prometheus.Desc
	meterValue, meterAge, meterStale, meterReadings                          *prometheus.Desc
	fwCommands                                                               *prometheus.Desc
	workerHR, workerShares, workerDiff, workersOmitted                       *prometheus.Desc
	consoleClients, consoleUpdates                                           *prometheus.Desc
	stratumConns, stratumCap, stratumRefused, stratumClosed                  *prometheus.Desc
	stratumParked                                                            *prometheus.Desc

	counters counterDescs // series of the Backend's CounterReader
}

// Share results tracked per group and per worker.
var groupResults = [...]string{"accepted", "stale", "duplicate", "low_difficulty", "invalid", "pool_rejected", "paused"}

const numGroupResults = len(groupResults)

type workerCounts [numGroupResults]uint64

func countsOf(r *WorkerRow) workerCounts {
	return workerCounts{r.Accepted, r.Rejects.Stale, r.Rejects.Duplicate, r.Rejects.LowDifficulty, r.Rejects.Invalid, r.Rejects.Pool, r.Rejects.Paused}
}

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("hashgate_"+name, help, labels, nil)
	}
	return &collector{
		s: s, prev: make(map[uint64]workerCounts), groupTotals: make(map[string]*[numGroupResults]uint64),

		buildInfo: d("build_info", "Build information; always 1.", "version", "goversion"),
		miners:    d("miners", "Connected workers by state.", "state"),
		hashrate:  d("hashrate_hs", "Estimated hashrate of all workers, hashes per second."),
		shares:    d("shares_total", "Shares by result, proxy-wide.", "result"),
		blocks:    d("block_candidates_total", "Shares that met the network target."),

		groupShares:   d("group_shares_total", "Shares by fleet group and result (workers of connections seen by the console).", "group", "result"),
		groupHashrate: d("group_hashrate_hs", "Estimated hashrate by fleet group, hashes per second.", "group"),
		groupWorkers:  d("group_workers", "Connected workers by fleet group.", "group"),
		groupDiff:     d("group_difficulty_mean", "Mean share difficulty of a group's workers.", "group"),

		poolShares:  d("pool_shares_total", "Shares by pool and result.", "pool", "result"),
		poolUp:      d("pool_up", "1 when the pool connection is up.", "pool"),
		poolActive:  d("pool_active", "1 for the pool currently mined.", "pool"),
		poolConns:   d("pool_connections", "Upstream connections open to the pool.", "pool"),
		poolLatency: d("pool_latency_seconds", "Last share round-trip to the pool.", "pool"),
		poolDiff:    d("pool_difficulty", "Difficulty the pool set.", "pool"),
		poolHR:      d("pool_hashrate_hs", "Hashrate sent to the pool, hashes per second.", "pool"),

		poolUnknown:     d("pool_unknown_total", "Forwarded shares the pool did not answer within submit_timeout.", "pool"),
		poolUnforwarded: d("pool_unforwarded_total", "Shares that met the pool's target but never reached it (no connection, or lost with it).", "pool"),

		poolWeight:       d("pool_weight", "The pool's configured weight in a hashrate split (0: none).", "pool"),
		poolAcceptedDiff: d("pool_accepted_difficulty_total", "Summed difficulty of the valid shares mined for the pool: its part of the work.", "pool"),

		drops: d("queue_drops_total", "Items dropped from bounded queues, by reason.", "reason"),

		polEnabled:      d("policy_enabled", "1 when a power policy is configured."),
		polKW:           d("policy_power_kw", "Site power from the policy's last step, kW.", "quantity"),
		polMode:         d("policy_mode", "1 for the policy's current mode.", "mode"),
		polCap:          d("policy_cap_kw", "Operator cap on mining power in force, kW (0: none)."),
		polSteps:        d("policy_steps_total", "Policy engine steps."),
		polApplied:      d("policy_decisions_applied_total", "Decisions the actuator carried out."),
		polFailed:       d("policy_decisions_failed_total", "Decisions the actuator failed."),
		polDecisions:    d("policy_decisions_total", "Decisions by action and reason (since the console started).", "action", "reason"),
		polPausedGroups: d("policy_paused_groups", "Fleet groups paused by an operator."),
		polDRActive:     d("policy_dr_events", "Demand-response events scheduled or active.", "state"),

		meterValue:    d("meter_value", "Last good reading (kW, Hz or price unit).", "meter", "role"),
		meterAge:      d("meter_age_seconds", "Seconds since the meter's last good reading.", "meter", "role"),
		meterStale:    d("meter_stale", "1 when the policy no longer trusts the meter.", "meter", "role"),
		meterReadings: d("meter_readings_total", "Readings by quality.", "meter", "quality"),

		fwCommands: d("firmware_commands_total", "Firmware commands by firmware, command and result.", "firmware", "command", "result"),

		workerHR:       d("worker_hashrate_hs", "Estimated hashrate per worker name (capped by metrics_worker_cap).", "worker"),
		workerShares:   d("worker_shares_total", "Shares per worker name and result (capped by metrics_worker_cap; resets on reconnect).", "worker", "result"),
		workerDiff:     d("worker_difficulty", "Current difficulty per worker name (capped by metrics_worker_cap).", "worker"),
		workersOmitted: d("console_metrics_workers_omitted", "Worker names left out of per-worker series by metrics_worker_cap."),

		consoleClients: d("console_clients", "Connected websocket clients."),
		consoleUpdates: d("console_updates_total", "Live update rounds sent to clients."),

		stratumConns:   d("stratum_connections", "Miner connections open across the stratum listeners, handshaking or mining."),
		stratumParked:  d("stratum_parked", "Idle V1 miner connections waiting in the epoll set with no goroutine of their own (Linux)."),
		stratumCap:     d("stratum_connections_cap", "Most miner connections the file-descriptor reserve allows (0: no limit known)."),
		stratumRefused: d("stratum_connections_refused_total", "Miner connections closed at accept, by reason.", "reason"),
		stratumClosed:  d("stratum_connections_closed_total", "Miner connections closed for not setting up in time, by reason.", "reason"),

		counters: newCounterDescs(d),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.miners, c.hashrate, c.shares, c.blocks, c.groupShares, c.groupHashrate,
		c.groupWorkers, c.groupDiff, c.poolShares, c.poolUp, c.poolActive, c.poolConns, c.poolLatency, c.poolDiff, c.poolHR,
		c.drops, c.poolUnknown, c.poolUnforwarded, c.poolWeight, c.poolAcceptedDiff, c.polEnabled, c.polKW, c.polMode, c.polCap, c.polSteps, c.polApplied, c.polFailed, c.polDecisions,
		c.polPausedGroups, c.polDRActive, c.meterValue, c.meterAge, c.meterStale, c.meterReadings, c.fwCommands,
		c.workerHR, c.workerShares, c.workerDiff, c.workersOmitted, c.consoleClients, c.consoleUpdates,
		c.stratumConns, c.stratumCap, c.stratumRefused, c.stratumClosed, c.stratumParked} {
		ch <- d
	}
	c.counters.describe(ch)
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	v := s.hub.view()
	now := s.clk.Now()
	o := &v.overview

	gauge(c.buildInfo, 1, s.version, runtime.Version())
	gauge(c.miners, float64(o.Miners.Running), "running")
	gauge(c.miners, float64(o.Miners.Paused), "paused")
	gauge(c.miners, float64(o.Miners.Throttled), "throttled")
	gauge(c.miners, float64(o.Miners.Connecting), "connecting")
	gauge(c.hashrate, o.Hashrate)
	for _, r := range sortedKeys(o.Shares) {
		counter(c.shares, float64(o.Shares[r]), r)
	}
	counter(c.blocks, float64(o.Blocks))

	for _, g := range sortedKeys(v.groups) {
		t := v.groups[g]
		gauge(c.groupHashrate, t.hashrate, g)
		gauge(c.groupWorkers, float64(t.workers), g)
		if t.workers > 0 {
			gauge(c.groupDiff, t.difficulty/float64(t.workers), g)
		}
	}
	c.mu.Lock()
	c.accumulate(v.workers)
	for _, g := range sortedKeys(c.groupTotals) {
		for i, r := range groupResults {
			counter(c.groupShares, float64(c.groupTotals[g][i]), g, r)
		}
	}
	c.mu.Unlock()

	for i := range v.pools {
		p := &v.pools[i]
		for _, r := range sortedKeys(p.Shares) {
			counter(c.poolShares, float64(p.Shares[r]), p.Name, r)
		}
		gauge(c.poolUp, b2f(p.State == "up"), p.Name)
		gauge(c.poolActive, b2f(p.Active), p.Name)
		gauge(c.poolConns, float64(p.Connections), p.Name)
		gauge(c.poolLatency, p.LatencyMs/1000, p.Name)
		gauge(c.poolDiff, p.Difficulty, p.Name)
		gauge(c.poolHR, p.Hashrate, p.Name)
		counter(c.poolUnknown, float64(p.Unknown), p.Name)
		counter(c.poolUnforwarded, float64(p.Unforwarded), p.Name)
		gauge(c.poolWeight, p.Weight, p.Name)
		counter(c.poolAcceptedDiff, p.AcceptedDifficulty, p.Name)
	}

	drops := make(map[string]uint64, len(o.Drops)+2)
	for k, n := range o.Drops {
		drops[k] = n
	}
	for k, n := range s.dropCounts.snapshot() {
		drops[k] += n
	}
	drops["slow_console_client"] += s.hub.evicted.Load()
	for _, k := range sortedKeys(drops) {
		counter(c.drops, float64(drops[k]), k)
	}

	pv := &v.policy
	gauge(c.polEnabled, b2f(pv.Enabled))
	if pv.Enabled && pv.Site != nil {
		st := pv.Site
		for _, q := range []struct {
			name string
			v    float64
		}{{"import", st.ImportKW}, {"limit", st.LimitKW}, {"ai_load", st.AILoadKW}, {"mining_load", st.MiningLoadKW},
			{"non_mining", st.NonMiningKW}, {"budget", st.BudgetKW}, {"committed", st.CommittedKW}, {"mining_estimate", st.MiningEstKW},
			{"in_flight", st.InFlightKW}, {"unconfirmed", st.UnconfirmedKW}} {
			gauge(c.polKW, q.v, q.name)
		}
		for _, m := range []string{"normal", "over_limit", "safe_floor", "trip"} {
			gauge(c.polMode, b2f(st.Mode == m), m)
		}
		gauge(c.polCap, pv.CapKW)
		counter(c.polSteps, float64(pv.Steps))
		counter(c.polApplied, float64(pv.Applied))
		counter(c.polFailed, float64(pv.ApplyFailed))
		gauge(c.polPausedGroups, float64(len(pv.PausedGroups)))
		var active, scheduled int
		for _, e := range pv.DR {
			if e.Active {
				active++
			} else if e.Start.After(now) {
				scheduled++
			}
		}
		gauge(c.polDRActive, float64(active), "active")
		gauge(c.polDRActive, float64(scheduled), "scheduled")
	}
	s.hub.decided.each(func(a policy.Action, r policy.Reason, n uint64) {
		counter(c.polDecisions, float64(n), a.String(), r.String())
	})

	for _, m := range pv.Meters {
		role := m.Role.String()
		gauge(c.meterValue, m.Value, m.Name, role)
		if !m.At.IsZero() {
			gauge(c.meterAge, max(now.Sub(m.At).Seconds(), 0), m.Name, role)
		}
		gauge(c.meterStale, b2f(m.Stale), m.Name, role)
		for _, q := range sortedKeys(m.Readings) {
			counter(c.meterReadings, float64(m.Readings[q]), m.Name, q)
		}
	}
	for _, f := range s.b.FirmwareResults() {
		counter(c.fwCommands, float64(f.Count), f.Firmware, f.Command, f.Result)
	}

	if limit := s.cfg.MetricsWorkerCap; limit > 0 {
		c.perWorker(v.workers, limit, gauge, counter)
	}
	gauge(c.consoleClients, float64(s.hub.nclients.Load()))
	counter(c.consoleUpdates, float64(s.hub.sent.Load()))

	gauge(c.stratumConns, float64(v.conns.Open))
	gauge(c.stratumParked, float64(v.conns.Parked))
	gauge(c.stratumCap, float64(v.conns.Cap))
	for _, r := range sortedKeys(v.conns.Refused) {
		counter(c.stratumRefused, float64(v.conns.Refused[r]), r)
	}
	for _, r := range sortedKeys(v.conns.Closed) {
		counter(c.stratumClosed, float64(v.conns.Closed[r]), r)
	}
	c.counters.collect(s.b, gauge, counter)
}

// accumulate adds each connection's new shares since the last call to its group's totals, so
// the group counters only grow when workers disconnect. Shares of a connection that came and
// went between two calls are not counted; calls happen at every scrape.
func (c *collector) accumulate(rows []WorkerRow) {
	seen := make(map[uint64]workerCounts, len(rows))
	for i := range rows {
		r := &rows[i]
		cur := countsOf(r)
		prev := c.prev[r.ID]
		g := cmp(r.Group, ungrouped)
		t := c.groupTotals[g]
		if t == nil {
			t = new([numGroupResults]uint64)
			c.groupTotals[g] = t
		}
		for k := range cur {
			if cur[k] >= prev[k] {
				t[k] += cur[k] - prev[k]
			} else {
				t[k] += cur[k]
			}
		}
		seen[r.ID] = cur
	}
	c.prev = seen
}

type metricFunc func(d *prometheus.Desc, v float64, l ...string)

// perWorker emits per-worker-name series for at most limit names (sorted), counting the rest.
func (c *collector) perWorker(rows []WorkerRow, limit int, gauge, counter metricFunc) {
	type agg struct {
		hr, diff float64
		counts   workerCounts
	}
	by := make(map[string]*agg)
	for i := range rows {
		r := &rows[i]
		a := by[r.Worker]
		if a == nil {
			a = &agg{}
			by[r.Worker] = a
		}
		a.hr += r.Hashrate
		a.diff = max(a.diff, r.Difficulty)
		cs := countsOf(r)
		for k := range cs {
			a.counts[k] += cs[k]
		}
	}
	names := sortedKeys(by)
	omitted := 0
	if len(names) > limit {
		omitted = len(names) - limit
		names = names[:limit]
	}
	for _, n := range names {
		a := by[n]
		gauge(c.workerHR, a.hr, n)
		gauge(c.workerDiff, a.diff, n)
		for k, r := range groupResults {
			counter(c.workerShares, float64(a.counts[k]), n, r)
		}
	}
	gauge(c.workersOmitted, float64(omitted))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
