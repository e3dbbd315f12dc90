package proxy

import (
	"sync"
	"time"
)

// pool is one configured pool account: its upstream connections (one per connection index in
// use, opened on demand and kept hot even while the pool is standby, so failover is instant),
// its health and its counters.
type pool struct {
	p   *Proxy
	cfg PoolConfig
	ep  Endpoint

	mu    sync.Mutex
	conns []poolConn
	since time.Time // when the pool last became healthy (zero while unhealthy)
	// rejectCooldown: the pool failed for sustained rejects and stays down until then.
	rejectCooldown time.Time

	counters Counters
	rate     rateWindow
	rejects  rejectWindow
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
	pl := &pool{p: p, cfg: cfg, ep: ep}
	pl.rate.bucket = 30 * time.Second
	pl.rejects.size = p.cfg.RejectWindow
	return pl
}

// ensureConns opens connection indexes up to n.
func (pl *pool) ensureConns(n int) {
	pl.mu.Lock()
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

func (pl *pool) check(now time.Time) (bool, string) {
	c := pl.conn(0)
	if c == nil || !c.up() {
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
	cooling := now.Before(pl.rejectCooldown)
	pl.mu.Unlock()
	if cooling {
		return false, "sustained rejects (cooling down)"
	}
	if pl.rejects.ratio() >= pl.p.cfg.RejectFailover {
		// Failed over for rejects: no verdicts arrive while miners are elsewhere, so judge the
		// pool again after a cool-down rather than keep it down until its connection drops.
		pl.mu.Lock()
		pl.rejectCooldown = now.Add(rejectCooldown)
		pl.mu.Unlock()
		pl.rejects.reset()
		return false, "sustained rejects"
	}
	return true, ""
}

// freshSession forgets the verdicts of an earlier session: a reconnected pool is judged anew.
func (pl *pool) freshSession() {
	pl.rejects.reset()
	pl.mu.Lock()
	pl.rejectCooldown = time.Time{}
	pl.mu.Unlock()
}

// rejectCooldown is how long a pool failed over for rejects is left alone before miners may
// return to it.
const rejectCooldown = 5 * time.Minute

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
		Priority: pl.cfg.Priority,
		Active:   active,
		State:    "up",
		Shares:   pl.counters.Map(),
		Hashrate: pl.rate.hashrate(now),
		Reason:   why,
	}
	if !ok {
		st.State = "down"
	}
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
		st.LastJob = c.lastJob()
		st.LatencyMs = float64(c.latency().Microseconds()) / 1000
		st.Difficulty = c.difficulty()
	}
	return st
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
