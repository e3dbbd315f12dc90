package power

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy/firmware"
)

// PollTarget is one miner whose firmware is polled.
type PollTarget struct {
	// ID names the miner in results, logs and the poller's own bookkeeping;
	// it must be unique within one fleet.
	ID string
	// Firmware is the registry name of the miner's driver ("luxos", ...).
	// "none" and "" mean the miner has no control channel: it is not polled.
	Firmware string
	// Target is where and how the driver reaches the miner.
	Target firmware.Target
}

// Telemetry is one poll result.
type Telemetry struct {
	ID string
	// At is when the status call returned, on the poller's clock.
	At time.Time
	// Status is what the firmware reported; valid only when Err is nil.
	Status firmware.Status
	// Err is the driver's error (errors.Is works with the firmware
	// sentinels; a call that ran out of Timeout is firmware.ErrTimeout).
	Err error
}

// PollerConfig tunes a Poller. A zero field takes its default.
type PollerConfig struct {
	// Interval is how often each miner is polled (power.telemetry_interval).
	Interval time.Duration
	// Timeout bounds one status call (power.telemetry_timeout).
	Timeout time.Duration
	// BackoffMax caps the back-off of a miner whose polls fail: its polls
	// are Interval apart after the first failure, then twice that, and so
	// on up to BackoffMax (power.telemetry_backoff_max).
	BackoffMax time.Duration
	// Parallel bounds the status calls in flight (power.telemetry_parallel).
	Parallel int
}

// DefaultPollerConfig polls every 10 s, at most 64 calls at once, 5 s per
// call, and an unreachable miner at most every 5 min.
func DefaultPollerConfig() PollerConfig {
	return PollerConfig{Interval: 10 * time.Second, Timeout: 5 * time.Second, BackoffMax: 5 * time.Minute, Parallel: 64}
}

// Validate reports a configuration that cannot work, naming the TOML keys.
func (c PollerConfig) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, errors.New("power.telemetry_interval: must be > 0"))
	}
	if c.Parallel < 1 {
		errs = append(errs, errors.New("power.telemetry_parallel: must be >= 1"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("power.telemetry_timeout: must be > 0"))
	}
	if c.BackoffMax < c.Interval {
		errs = append(errs, fmt.Errorf("power.telemetry_backoff_max: must be >= telemetry_interval (%s)", c.Interval))
	}
	return errors.Join(errs...)
}

// orDefault fills zero fields from DefaultPollerConfig.
func (c PollerConfig) orDefault() PollerConfig {
	d := DefaultPollerConfig()
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(d.BackoffMax, c.Interval)
	}
	if c.Parallel == 0 {
		c.Parallel = d.Parallel
	}
	return c
}

// PollerStats are the poller's counters since it was built, for /metrics.
type PollerStats struct {
	// Polls counts status calls that returned; Failures those that failed.
	Polls, Failures uint64
	// Skipped counts polls not made because the miner was in back-off.
	Skipped uint64
	// Busy counts polls not made because the miner's previous call was
	// still running (it answers slower than Interval).
	Busy uint64
	// InFlight is the number of status calls running now; Miners the
	// number of miners remembered: the last round's fleet without "none"
	// targets, plus any dropped from it whose call has not returned yet.
	InFlight, Miners int
	// LastRound is how long the last complete round took, from its start
	// to the return of its last call. Polls are spread over the interval,
	// so this is about Interval; well above it means the fleet cannot be
	// polled at this rate with this Parallel.
	LastRound time.Duration
}

// pollSlots is how many points in time a round's polls are spread over:
// Interval/128 apart (78 ms at 10 s), so the poller wakes 128 times per
// round however large the fleet, and 10,000 miners leave in groups of ~80
// instead of one burst.
const pollSlots = 128

// Poller polls every miner's firmware for its status at a fixed interval.
//
// Each miner keeps its place in the interval (a hash of its ID), so a
// miner is polled every Interval even as others come and go, and the load
// is even over the interval. It does not use firmware.Dispatcher: Dispatch
// runs one batch and returns when the slowest job is done, so paced
// batches would either burst the whole round at once or let one stalled
// miner (up to Timeout) hold back every batch behind it; its retries
// double what the per-miner back-off does, and it logs every failure
// unsampled. The poller instead keeps one continuous stream of calls
// under a single in-flight bound.
type Poller struct {
	cfg PollerConfig
	reg *firmware.Registry
	clk clock.Clock
	log zerolog.Logger

	running atomic.Bool

	polls, failures, skipped, busy atomic.Uint64
	inflight, miners               atomic.Int64
	lastRound                      atomic.Int64 // nanoseconds
}

// NewPoller returns a poller; clk nil means the wall clock.
func NewPoller(cfg PollerConfig, reg *firmware.Registry, clk clock.Clock, log zerolog.Logger) (*Poller, error) {
	cfg = cfg.orDefault()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		return nil, errors.New("power: poller needs a firmware registry")
	}
	if clk == nil {
		clk = clock.Real
	}
	return &Poller{cfg: cfg, reg: reg, clk: clk, log: log.With().Str("component", "telemetry").Logger()}, nil
}

// Stats returns the counters; safe to call at any time, from any goroutine.
func (p *Poller) Stats() PollerStats {
	return PollerStats{
		Polls: p.polls.Load(), Failures: p.failures.Load(), Skipped: p.skipped.Load(), Busy: p.busy.Load(),
		InFlight: int(p.inflight.Load()), Miners: int(p.miners.Load()), LastRound: time.Duration(p.lastRound.Load()),
	}
}

// Run polls until ctx ends, then waits for its calls to return.
//
// targets is called once per round (every Interval) and returns the current
// fleet; miners missing from it are forgotten. It runs while the poller's
// scheduling is paused, so it should be quick, and it must neither call Run
// nor wait for Run to return.
// report is called for every result, from the poller's goroutines, possibly
// concurrently; a call blocked in report keeps its place among the Parallel
// in flight, so it must not block long. Results of calls cut short because
// ctx ended are not reported. Run must not be called again before it
// returned.
func (p *Poller) Run(ctx context.Context, targets func() []PollTarget, report func(Telemetry)) {
	if !p.running.CompareAndSwap(false, true) {
		panic("power: Poller.Run called while running")
	}
	defer p.running.Store(false)
	r := &pollRun{p: p, ctx: ctx, targets: targets, report: report, miners: make(map[string]*polledMiner),
		calls: make(chan pollCall, p.cfg.Parallel)}
	// Parallel workers make the calls: a goroutine per call would be created, and its stack
	// grown, a thousand times a second at 10,000 miners.
	var workers sync.WaitGroup
	for range p.cfg.Parallel {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for c := range r.calls {
				r.poll(c.m, c.t, c.drv, c.drvErr, c.slot, c.rd)
			}
		}()
	}
	defer func() { close(r.calls); workers.Wait() }()
	r.mu.Lock()
	r.startRound(p.clk.Now())
	r.pump(p.clk.Now())
	r.mu.Unlock()

	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	if r.timer != nil && r.timer.Stop() {
		r.wg.Done()
	}
	r.timer = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// polledMiner is the poller's memory of one miner.
type polledMiner struct {
	t      PollTarget
	drv    firmware.Driver
	drvErr error
	// slot is the miner's offset into each round.
	slot time.Duration
	// next is the earliest round slot it may be polled at (back-off).
	next     time.Time
	backoff  time.Duration
	failing  bool
	inflight bool
	// gone marks a miner dropped from the fleet while its call ran; the
	// call's return forgets it.
	gone bool
}

// pollRound tracks one round for PollerStats.LastRound.
type pollRound struct {
	start    time.Time
	pending  int
	launched bool
}

// pollCall is one status call handed to a worker.
type pollCall struct {
	m      *polledMiner
	t      PollTarget
	drv    firmware.Driver
	drvErr error
	slot   time.Time
	rd     *pollRound
}

// pollEntry is one miner's place in the current round.
type pollEntry struct {
	at time.Time
	m  *polledMiner
}

// pollRun is the state of one Run. Everything below mu is guarded by it.
type pollRun struct {
	p       *Poller
	ctx     context.Context
	targets func() []PollTarget
	report  func(Telemetry)
	wg      sync.WaitGroup // calls and the armed timer
	calls   chan pollCall  // to the workers; capacity Parallel

	mu       sync.Mutex
	stopped  bool
	miners   map[string]*polledMiner
	sched    []pollEntry // current round, by time
	idx      int         // next entry of sched to consider
	round    *pollRound
	roundEnd time.Time
	inflight int
	timer    clock.Timer
}

// startRound asks for the fleet, reconciles it with what the poller knows
// and lays out the round beginning at start; r.mu held.
func (r *pollRun) startRound(start time.Time) {
	fleet := r.targets()
	seen := make(map[string]struct{}, len(fleet))
	r.sched = r.sched[:0]
	for _, t := range fleet {
		if t.Firmware == firmware.None || t.Firmware == "" {
			continue
		}
		if _, dup := seen[t.ID]; dup {
			continue
		}
		seen[t.ID] = struct{}{}
		m := r.miners[t.ID]
		switch {
		case m == nil:
			m = &polledMiner{slot: pollSlot(t.ID, r.p.cfg.Interval)}
			r.miners[t.ID] = m
			m.setTarget(t, r.p.reg)
		case m.t != t:
			// A new address or firmware is a new endpoint: forget its back-off.
			m.setTarget(t, r.p.reg)
			m.next, m.backoff = time.Time{}, 0
		}
		m.gone = false
		r.sched = append(r.sched, pollEntry{at: start.Add(m.slot), m: m})
	}
	for id, m := range r.miners {
		if _, ok := seen[id]; ok {
			continue
		}
		if m.inflight {
			m.gone = true
		} else {
			delete(r.miners, id)
		}
	}
	slices.SortFunc(r.sched, func(a, b pollEntry) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.m.t.ID, b.m.t.ID))
	})
	r.idx = 0
	r.round = &pollRound{start: start}
	r.roundEnd = start.Add(r.p.cfg.Interval)
	r.p.miners.Store(int64(len(r.miners)))
}

func (m *polledMiner) setTarget(t PollTarget, reg *firmware.Registry) {
	m.t = t
	m.drv, m.drvErr = reg.Driver(t.Firmware)
}

// pollSlot places a miner in the interval by its ID, on one of pollSlots
// points.
func pollSlot(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return time.Duration(h.Sum64()%pollSlots) * (interval / pollSlots)
}

// pump starts every call that is due, as far as Parallel allows, then arms
// the timer for the next one; r.mu held. When Parallel is the limit no timer
// is armed: the next call to return pumps again.
func (r *pollRun) pump(now time.Time) {
	for !r.stopped {
		if r.idx == len(r.sched) {
			if !r.round.launched {
				r.round.launched = true
				r.roundDone(r.round, now)
			}
			if now.Before(r.roundEnd) {
				r.arm(r.roundEnd, now)
				return
			}
			// A round that overran its interval starts the next one late
			// rather than crowding two into one interval.
			start := r.roundEnd
			if now.Sub(start) >= r.p.cfg.Interval {
				start = now
			}
			r.startRound(start)
			continue
		}
		e := r.sched[r.idx]
		if e.at.After(now) {
			r.arm(e.at, now)
			return
		}
		if r.inflight >= r.p.cfg.Parallel {
			return
		}
		r.idx++
		m := e.m
		switch {
		case m.inflight:
			r.p.busy.Add(1)
			continue
		case e.at.Before(m.next):
			r.p.skipped.Add(1)
			continue
		}
		m.inflight = true
		r.inflight++
		r.p.inflight.Store(int64(r.inflight))
		r.round.pending++
		r.wg.Add(1)
		// Never blocks: at most Parallel calls are outstanding, and the channel holds that many.
		r.calls <- pollCall{m: m, t: m.t, drv: m.drv, drvErr: m.drvErr, slot: e.at, rd: r.round}
	}
}

// arm schedules pump at the given time unless a timer is already armed;
// r.mu held.
func (r *pollRun) arm(at, now time.Time) {
	if r.timer != nil {
		return
	}
	r.wg.Add(1)
	r.timer = r.p.clk.AfterFunc(at.Sub(now), r.fire)
}

// fire is the timer's callback.
func (r *pollRun) fire() {
	defer r.wg.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timer = nil
	r.pump(r.p.clk.Now())
}

// roundDone records LastRound once every call of rd returned; r.mu held.
func (r *pollRun) roundDone(rd *pollRound, now time.Time) {
	if rd.launched && rd.pending == 0 {
		r.p.lastRound.Store(int64(now.Sub(rd.start)))
	}
}

// poll makes one status call and reports it.
func (r *pollRun) poll(m *polledMiner, t PollTarget, drv firmware.Driver, drvErr error, slot time.Time, rd *pollRound) {
	defer r.wg.Done()
	var status firmware.Status
	err := drvErr
	if err == nil {
		status, err = r.status(drv, t.Target)
	}
	cancelled := r.ctx.Err() != nil
	if !cancelled {
		r.report(Telemetry{ID: t.ID, At: r.p.clk.Now(), Status: status, Err: err})
	}

	r.mu.Lock()
	now := r.p.clk.Now()
	var change int // +1 started failing, -1 recovered
	if !cancelled {
		r.p.polls.Add(1)
		if err != nil {
			r.p.failures.Add(1)
			m.backoff = min(max(m.backoff*2, r.p.cfg.Interval), r.p.cfg.BackoffMax)
			m.next = slot.Add(m.backoff)
			if !m.failing {
				m.failing, change = true, +1
			}
		} else {
			m.backoff, m.next = 0, time.Time{}
			if m.failing {
				m.failing, change = false, -1
			}
		}
	}
	m.inflight = false
	if m.gone && r.miners[t.ID] == m {
		delete(r.miners, t.ID)
		r.p.miners.Store(int64(len(r.miners)))
	}
	r.inflight--
	rd.pending--
	r.roundDone(rd, now)
	r.pump(now)
	// Stored after pump, so a reader never sees 0 between a call's return
	// and the start of the one waiting for its place.
	r.p.inflight.Store(int64(r.inflight))
	r.mu.Unlock()

	// Logged once per change of state: a miner that stays unreachable for
	// a week logs one line, however often it is polled.
	switch change {
	case +1:
		r.p.log.Warn().Str("miner", t.ID).Str("addr", t.Target.Addr).Str("firmware", t.Firmware).Err(err).
			Msg("firmware status poll failing; backing off")
	case -1:
		r.p.log.Info().Str("miner", t.ID).Str("addr", t.Target.Addr).Str("firmware", t.Firmware).
			Msg("firmware status poll answering again")
	}
}

// status makes one call bounded by Timeout; a call cut short by Timeout
// is firmware.ErrTimeout, whatever the driver made of it.
func (r *pollRun) status(drv firmware.Driver, t firmware.Target) (firmware.Status, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.p.cfg.Timeout)
	defer cancel()
	st, err := drv.Status(ctx, t)
	if err != nil && r.ctx.Err() == nil && ctx.Err() != nil && !errors.Is(err, firmware.ErrTimeout) {
		err = fmt.Errorf("%w: %w", firmware.ErrTimeout, err)
	}
	return st, err
}
