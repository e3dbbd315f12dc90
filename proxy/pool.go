package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pool is one configured pool account: its upstream connections (one per connection index in
// use, opened on demand and kept hot even while the pool is standby, so failover is instant),
// its health and its counters.
type pool struct {
	p   *Proxy
	cfg PoolConfig // fixed for the pool's life: a console edit of url, user or password replaces the pool
	ep  Endpoint
	// prio is cfg.Priority as the console last set it (reordering does not redial).
	prio atomic.Int64
	// weight is cfg.Weight as the console last set it, as float64 bits (split.go).
	weight atomic.Uint64
	// ctx bounds the pool's connections: set from the proxy's when the first one opens,
	// cancelled when the pool is removed or replaced (pools_runtime.go). Written under mu
	// before any connection starts.
	ctx  context.Context
	stop context.CancelFunc

	mu    sync.Mutex
	conns []poolConn
	since time.Time // when the pool last became healthy (zero while unhealthy)
	// cooldown: the pool failed (sustained rejects, unanswered submits) and stays down until
	// then, for cooldownWhy.
	cooldown    time.Time
	cooldownWhy string
	// timeouts counts submits in a row the pool left unanswered past submit_timeout (reset
	// when it fails the pool over); silent says a run of them was logged.
	timeouts int
	silent   bool
	// losing: shares are being lost (not forwarded) since the pool last answered one;
	// lostRun counts them for the line that ends the episode.
	losing  bool
	lostRun uint64
	// lastErr is why the first connection's last session ended (dial, TLS, handshake,
	// subscribe or read error): a down pool shows it instead of a bare "disconnected".
	lastErr string
	// namesWhy says why every share goes under the pool user here although worker_names is
	// passthrough (set once, with poolUser).
	namesWhy string

	// poolUser: this pool refused or ignored a worker's authorize, so no share goes under a
	// worker name here again (until restart: it is how the pool software works).
	poolUser atomic.Bool
	// unknown counts forwarded shares the pool did not answer within submit_timeout;
	// unforwarded those that met its target but never reached it.
	unknown     atomic.Uint64
	unforwarded atomic.Uint64
	// stale counts the pool's rejections of shares for a job it no longer takes.
	stale atomic.Uint64

	counters  Counters
	accepted  diffSum // difficulty of the valid shares mined for this pool (its share of the work)
	rate      hashMeter
	created   time.Time // start of the rate windows
	rejects   rejectWindow
	rejectLog rejectLog
}

// poolConn is an upstream connection of any protocol with its lifecycle hooks.
type poolConn interface {
	upstream
	index() int
	lastJob() time.Time
	latency() time.Duration
	difficulty() float64
	run()
}

func newPool(p *Proxy, cfg PoolConfig, ep Endpoint) *pool {
	pl := &pool{p: p, cfg: cfg, ep: ep, created: p.clk.Now()}
	pl.prio.Store(int64(cfg.Priority))
	pl.setWeight(cfg.Weight)
	pl.rejects.size = p.cfg.RejectWindow
	return pl
}

// ensureConns opens connection indexes up to n.
func (pl *pool) ensureConns(n int) {
	pl.mu.Lock()
	if !pl.liveLocked() {
		pl.mu.Unlock()
		return
	}
	var started []poolConn
	for len(pl.conns) < n {
		c := pl.newConn(len(pl.conns))
		pl.conns = append(pl.conns, c)
		started = append(started, c)
	}
	pl.mu.Unlock()
	for _, c := range started {
		c := c
		pl.p.wg.Add(1)
		go func() {
			defer pl.p.wg.Done()
			c.run()
		}()
	}
}

func (pl *pool) newConn(idx int) poolConn {
	if pl.ep.V2 {
		return newUpstreamV2(pl, idx)
	}
	return newUpstreamV1(pl, idx)
}

func (pl *pool) conn(idx int) poolConn {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if idx < len(pl.conns) {
		return pl.conns[idx]
	}
	return nil
}

// healthy says whether miners may mine on this pool now, and if not, why.
func (pl *pool) healthy(now time.Time) (bool, string) {
	ok, why := pl.check(now)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if ok && pl.since.IsZero() {
		pl.since = now
	}
	if !ok {
		pl.since = time.Time{}
	}
	return ok, why
}

// hasWork says whether the pool is connected with current work miners can take, whatever
// its verdicts: the last resort when no pool is healthy.
func (pl *pool) hasWork(now time.Time) bool {
	c := pl.conn(0)
	if c == nil || !c.up() {
		return false
	}
	j := c.current()
	return j != nil && pl.p.layoutFits(j.Extranonce2Size) && now.Sub(c.lastJob()) <= pl.p.cfg.JobTimeout.D()
}

func (pl *pool) check(now time.Time) (bool, string) {
	c := pl.conn(0)
	if c == nil || !c.up() {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		if pl.lastErr != "" {
			return false, pl.lastErr
		}
		return false, "disconnected"
	}
	j := c.current()
	if j == nil {
		return false, "no job yet"
	}
	if !pl.p.layoutFits(j.Extranonce2Size) {
		return false, "extranonce2 too small for the miners' layout"
	}
	if now.Sub(c.lastJob()) > pl.p.cfg.JobTimeout.D() {
		return false, "no job within job_timeout"
	}
	pl.mu.Lock()
	cooling, why := now.Before(pl.cooldown), pl.cooldownWhy
	silent := pl.timeouts >= submitTimeoutFailover
	if silent {
		// Failed over because submits go unanswered: none are sent while miners are
		// elsewhere, so judge the pool again after a cool-down.
		pl.timeouts = 0
		pl.cooldown, pl.cooldownWhy = now.Add(rejectCooldown), "submits unanswered"
	}
	pl.mu.Unlock()
	if cooling {
		return false, why + " (cooling down)"
	}
	if silent {
		return false, "submits unanswered"
	}
	if pl.rejects.ratio() >= pl.p.cfg.RejectFailover {
		// Failed over for rejects: no verdicts arrive while miners are elsewhere, so judge the
		// pool again after a cool-down rather than keep it down until its connection drops.
		pl.mu.Lock()
		pl.cooldown, pl.cooldownWhy = now.Add(rejectCooldown), "sustained rejects"
		pl.mu.Unlock()
		pl.rejects.reset()
		return false, "sustained rejects"
	}
	return true, ""
}

// freshSession forgets the verdicts of an earlier session when connection idx redials: a
// reconnected pool is judged anew on the shares it gets. Only connection 0, the one health is
// judged on, counts, and a cool-down still running is kept: a pool that leaves subscribes
// unanswered redials every submit_timeout, and clearing its cool-down on each dial brought
// the fleet back to it every ~40 s instead of after rejectCooldown.
func (pl *pool) freshSession(idx int) {
	if idx != 0 {
		return
	}
	pl.rejects.reset()
	pl.mu.Lock()
	pl.timeouts, pl.silent = 0, false
	pl.mu.Unlock()
}

// rejectCooldown is how long a pool failed over for rejects or unanswered submits is left
// alone before miners may return to it.
const rejectCooldown = 5 * time.Minute

// submitTimeoutFailover is how many submits in a row a pool may leave unanswered past
// submit_timeout before it is failed over: one lost answer is a glitch, three in a row
// with none answered between is a share path that has stopped.
const submitTimeoutFailover = 3

// answered notes a submit the pool answered (accepted or rejected): it ends a run of
// timeouts and an episode of unforwarded shares.
func (pl *pool) answered() {
	pl.mu.Lock()
	losing, n := pl.losing, pl.lostRun
	pl.timeouts, pl.silent, pl.losing, pl.lostRun = 0, false, false, 0
	pl.mu.Unlock()
	if losing {
		pl.p.log.Info().Str("pool", pl.cfg.Name).Uint64("unforwarded", n).Msg("pool answers shares again")
	}
}

// timedOut notes a submit the pool left unanswered past submit_timeout. The first of a run
// is logged; the run ends when the pool answers a share again.
//
// judges is false for a block candidate under the pool's share target (a test network): a
// pool may rightly ignore it, so its silence says nothing about the pool's share path.
func (pl *pool) timedOut(judges bool) {
	pl.unknown.Add(1)
	if !judges {
		return
	}
	pl.mu.Lock()
	pl.timeouts++
	first := !pl.silent
	pl.silent = true
	pl.mu.Unlock()
	if first {
		pl.p.log.Warn().Str("pool", pl.cfg.Name).Dur("submit_timeout", pl.p.cfg.SubmitTimeout.D()).
			Msg("pool left a share unanswered; counted unknown")
	}
}

// lost counts shares that met the pool's target but never reached it (no connection, or
// the connection dropped with them in flight). The first of an episode is logged; the
// episode ends when the pool answers a share again.
func (pl *pool) lost(n int, why string) {
	if n <= 0 {
		return
	}
	pl.unforwarded.Add(uint64(n))
	pl.mu.Lock()
	first := !pl.losing
	pl.losing = true
	pl.lostRun += uint64(n)
	pl.mu.Unlock()
	if first {
		pl.p.log.Warn().Str("pool", pl.cfg.Name).Str("why", why).
			Msg("shares that met the pool's target could not be forwarded; counted unforwarded until the pool answers again")
	}
}

// passthrough says whether shares go to this pool under <pool user>.<worker>.
func (pl *pool) passthrough() bool {
	return pl.p.cfg.WorkerNames == "passthrough" && !pl.ep.V2 && !pl.poolUser.Load()
}

// fallBack sends every later share to this pool under the pool user: it refused or ignored
// a worker's authorize, or rejected a share for its worker name. Logged once per pool.
func (pl *pool) fallBack(why string) {
	pl.mu.Lock()
	if pl.poolUser.Load() {
		pl.mu.Unlock()
		return
	}
	pl.namesWhy = why
	pl.poolUser.Store(true)
	pl.mu.Unlock()
	pl.p.log.Warn().Str("pool", pl.cfg.Name).Str("user", pl.cfg.User).Str("why", why).
		Msg("pool does not take per-worker names: every share goes to it under the pool user from now on")
}

// naming is how shares are named at this pool, for its stats row.
func (pl *pool) naming() (mode, why string) {
	switch {
	case pl.p.cfg.WorkerNames != "passthrough":
		return "pool_user", "worker_names = " + pl.p.cfg.WorkerNames
	case pl.ep.V2:
		return "pool_user", "one SV2 channel under the pool user carries every worker"
	case pl.poolUser.Load():
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return "pool_user", pl.namesWhy
	}
	return "passthrough", ""
}

// logReject counts a pool's reject (stale or not) and logs it, at most once per reason per
// rejectLogEvery with the count left out since.
func (pl *pool) logReject(worker, job, reason string) {
	if staleReason(reason) {
		pl.stale.Add(1)
	}
	reason = clipReason(reason)
	ok, left := pl.rejectLog.allow(pl.p.clk.Now(), reason)
	if !ok {
		return
	}
	pl.p.log.Info().Str("pool", pl.cfg.Name).Str("worker", worker).Str("job", job).Str("reason", reason).
		Uint64("suppressed", left).Msg("pool rejected a share")
}

func (pl *pool) healthySince() time.Time {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.since
}

func (pl *pool) stats(now time.Time, active bool) PoolStats {
	ok, why := pl.check(now)
	st := PoolStats{
		Name:     pl.cfg.Name,
		URL:      pl.cfg.URL,
		User:     pl.cfg.User,
		Priority: int(pl.prio.Load()),
		Active:   active,
		State:    "up",
		Shares:   pl.counters.Map(),
		Reason:   why,
	}
	r := pl.rate.rates(now, pl.created)
	st.Hashrate, st.Hashrate5m, st.Hashrate1h, st.Hashrate24h = r.H5m, r.H5m, r.H1h, r.H24h
	if !ok {
		st.State = "down"
	}
	st.Weight, st.AcceptedDifficulty = pl.weightNow(), pl.accepted.load()
	st.WorkerNames, st.WorkerNamesReason = pl.naming()
	st.Unknown, st.Unforwarded, st.Stale = pl.unknown.Load(), pl.unforwarded.Load(), pl.stale.Load()
	pl.mu.Lock()
	conns := append([]poolConn(nil), pl.conns...)
	pl.mu.Unlock()
	for _, c := range conns {
		if c.up() {
			st.Connections++
		}
	}
	if len(conns) > 0 {
		c := conns[0]
		if t := c.lastJob(); !t.IsZero() {
			st.LastJob = &t
		}
		st.LatencyMs = float64(c.latency().Microseconds()) / 1000
		st.Difficulty = c.difficulty()
	}
	return st
}

// tracked wraps an upstream connection's session so the first connection's failures become
// the pool's down reason (the others share its endpoint and fail alike).
func (pl *pool) tracked(idx int, session func() (time.Duration, error)) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		upFor, err := session()
		// A connection the proxy closed itself says why through noteDown first; its
		// read error (use of closed network connection) would hide that.
		if idx == 0 && pl.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
			why := ""
			if err != nil {
				why = clipReason(err.Error())
			}
			pl.mu.Lock()
			pl.lastErr = why
			pl.mu.Unlock()
		}
		return upFor, err
	}
}

// noteDown records why the proxy is closing the pool's first connection, for its row.
func (pl *pool) noteDown(idx int, why string) {
	if idx == 0 {
		pl.mu.Lock()
		pl.lastErr = why
		pl.mu.Unlock()
	}
}

// staleReason says whether a pool's reject reason is for a stale job: V1 code 21's "Job not
// found (=stale)" and its variants, SV2's "stale-share".
func staleReason(reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "stale") || strings.Contains(r, "job not found")
}

// rejectWindow tracks the last size verdicts of a pool.
type rejectWindow struct {
	mu    sync.Mutex
	size  int
	ring  []bool
	next  int
	bad   int
	count int
}

func (w *rejectWindow) add(rejected bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ring == nil {
		w.ring = make([]bool, w.size)
	}
	if w.count == w.size {
		if w.ring[w.next] {
			w.bad--
		}
	} else {
		w.count++
	}
	w.ring[w.next] = rejected
	if rejected {
		w.bad++
	}
	w.next = (w.next + 1) % w.size
}

// ratio is the reject fraction, 0 until the window is full (a few early rejects are noise).
func (w *rejectWindow) ratio() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.count < w.size {
		return 0
	}
	return float64(w.bad) / float64(w.count)
}

// reset forgets verdicts (after a reconnect: a new session deserves a fresh judgement).
func (w *rejectWindow) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ring, w.next, w.bad, w.count = nil, 0, 0, 0
}
