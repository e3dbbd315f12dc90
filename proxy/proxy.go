package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/work"
)

// Options are the proxy's collaborators. Nil fields take the stated defaults.
type Options struct {
	// Logger receives structured logs (default: discard).
	Logger *zerolog.Logger
	// Clock drives every timer (default: the wall clock).
	Clock clock.Clock
	// Sink receives every share event (default: none).
	Sink ShareSink
	// Dial opens upstream TCP connections (default: net.Dialer with keepalive).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Proxy is a running hashgate proxy. Create it with New, start listeners with Serve or
// ListenAndServe, stop it with Close.
type Proxy struct {
	cfg  Config
	log  zerolog.Logger
	clk  clock.Clock
	sink ShareSink
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	rt poolsRuntime // the pools, sorted by priority, and the operator's forced choice
	// rewardWarned holds, per pool name, the job id last warned about as unreadable
	// (reward.go): a job re-issued to other miners or re-announced is warned about once.
	rewardWarned sync.Map
	alloc        *allocator

	mu         sync.Mutex
	active     *pool
	layout     work.Layout
	layoutSet  bool
	knownN     map[*pool]int // extranonce2 size of each pool's first connection
	firstKnown time.Time
	groups     []*group
	channels   map[uint64]*channel
	paused     map[string]bool // gate, by worker name
	byWorker   map[string]map[*channel]struct{}
	listeners  []net.Listener
	closed     bool

	fixedLayout atomic.Pointer[work.Layout] // the layout once fixed, readable without p.mu
	nextSession atomic.Uint64
	nextJob     atomic.Uint64
	started     time.Time

	counters Counters
	rate     hashMeter
	drops    dropCounters
	guard    *connGuard // admits and counts miner connections on every listener
	split    splitter   // hashrate split between weighted pools (split.go)
	park     parker     // idle V1 miners waiting without a goroutine (park_linux.go)
}

// dropCounters count what bounded queues dropped, by reason.
type dropCounters struct {
	slowMiner      atomic.Uint64 // miner's send queue full: disconnected
	upstreamQueue  atomic.Uint64 // upstream send queue full: share not forwarded
	floodedMiner   atomic.Uint64 // submits over the rate limit
	oversizedLines atomic.Uint64
	malformed      atomic.Uint64
}

func (d *dropCounters) snapshot() map[string]uint64 {
	return map[string]uint64{
		"slow_miner_disconnected": d.slowMiner.Load(),
		"upstream_queue_full":     d.upstreamQueue.Load(),
		"submit_rate_limited":     d.floodedMiner.Load(),
		"oversized_line":          d.oversizedLines.Load(),
		"malformed_message":       d.malformed.Load(),
	}
}

// group is the set of miners riding on one upstream connection index, and the work they get.
type group struct {
	idx    int
	mu     sync.Mutex
	miners map[*channel]struct{}
	cur    *proxyJob
	live   []*proxyJob // published since the last retiring job
	// trimmed: cut from live (it keeps the last maxJobsPerChannel once past 4x) but not yet
	// retired. A paused miner is offered nothing, so its ring may still hold these; the next
	// retire must mark them stale too. Bounded by maxTrimmed, the group's current work aside.
	// A split's re-issues are never here: they go stale with the job they repeat (origin).
	trimmed []*proxyJob
	lanes   map[*pool]*proxyJob // each pool's latest job here (the split offers each miner its pool's)
}

// proxyJob is an upstream job as hashgate's miners see it: a proxy-local id, the coinbase
// halves under the layout, and the notify lines encoded once for every miner of the group.
type proxyJob struct {
	localID string
	seq     uint64
	job     *work.Job
	up      upstream
	pool    *pool
	coinb1  []byte
	coinb2  []byte
	retire  bool   // miners drop older jobs (new block, pool switch)
	ntime   uint32 // the ntime miners are sent (moved on when the same work is re-issued)
	// superseded is set when a retiring job replaces this one: its shares are stale at once,
	// even for miners whose writer has not delivered the new job yet.
	superseded atomic.Bool
	// origin is the published job a split re-issue repeats (nil: published itself). A
	// re-issue is stale when its origin is: it never joins the group's lists, so moving
	// miners cannot push other jobs out of them.
	origin  *proxyJob
	poolDif float64 // the pool's difficulty for this job
	created time.Time
	minted  time.Time // when this id was made (a re-issue keeps created, the work's age)
	v1      v1JobLines
	v2      v2JobCache
	reward  jobReward // see reward.go
}

// stale says whether shares on pj are answered stale: it, or the job it re-issues, was
// superseded.
func (pj *proxyJob) stale() bool {
	return pj.superseded.Load() || pj.origin != nil && pj.origin.superseded.Load()
}

// root is the published job behind pj: its origin, or pj itself.
func (pj *proxyJob) root() *proxyJob {
	if pj.origin != nil {
		return pj.origin
	}
	return pj
}

// upstream is what the proxy needs of one upstream connection, whatever its protocol.
type upstream interface {
	// submit forwards a share; done is called exactly once with the pool's verdict.
	submit(s *upShare, done func(verdict))
	// ensureWorker makes a downstream worker visible at the pool (passthrough names).
	ensureWorker(worker string)
	// current returns the latest job, or nil.
	current() *work.Job
	owner() *pool
	up() bool
	versionMask() uint32
	poolName() string
}

// upShare is a share on its way to the pool.
type upShare struct {
	worker      string
	jobID       string
	extranonce2 []byte
	ntime       uint32
	nonce       uint32
	version     uint32 // the merged header version
	jobVersion  uint32
	mask        uint32
	// belowPool: a block candidate that missed the pool's share target (a test network
	// easier than the pool): the pool's verdict on it does not judge the pool.
	belowPool bool
}

// verdict is the pool's answer to one forwarded share.
type verdict struct {
	accepted bool
	known    bool // false: no answer (timeout, connection lost, queue full)
	code     int
	message  string
	latency  time.Duration
}

// New builds a proxy from a validated config. It dials nothing until Start.
func New(cfg Config, opts Options) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:      cfg,
		log:      zerolog.Nop(),
		clk:      clock.Real,
		sink:     opts.Sink,
		dial:     opts.Dial,
		channels: map[uint64]*channel{},
		paused:   map[string]bool{},
		byWorker: map[string]map[*channel]struct{}{},
	}
	if opts.Logger != nil {
		p.log = *opts.Logger
	}
	if opts.Clock != nil {
		p.clk = opts.Clock
	}
	if p.dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		p.dial = d.DialContext
	}
	p.guard = newConnGuard(cfg.Limits, p.log, p.clk)
	perConn := 1 << (8 * cfg.Extranonce.PrefixBytes)
	if m := cfg.Extranonce.MaxMinersPerUpstream; m > 0 && m < perConn {
		perConn = m
	}
	maxConns := 64
	if cfg.Extranonce.PrefixBytes >= 3 {
		maxConns = 1
	}
	p.alloc = newAllocator(perConn, maxConns)
	pcs := append([]PoolConfig(nil), cfg.Pools...)
	sort.SliceStable(pcs, func(i, j int) bool { return pcs[i].Priority < pcs[j].Priority })
	pools := make([]*pool, 0, len(pcs))
	for _, pc := range pcs {
		ep, _ := ParseEndpoint(pc.URL)
		pools = append(pools, newPool(p, pc, ep))
	}
	p.rt.list.Store(&pools)
	return p, nil
}

// Start connects to the pools and starts failover supervision. It returns at once.
func (p *Proxy) Start(ctx context.Context) {
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.mu.Lock() // Status may run before Start (a site console card is built from it)
	p.started = p.clk.Now()
	p.mu.Unlock()
	for _, pl := range p.poolList() {
		pl.ensureConns(1)
	}
	p.wg.Add(1)
	go p.supervise()
}

// Close stops listeners, miners and upstream connections and waits for their goroutines. It is
// safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := p.listeners
	p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	for _, l := range ls {
		l.Close()
	}
	p.wg.Wait()
	return nil
}

// ListenAndServe listens on a TCP address for Stratum V1 miners and serves until Close. It
// returns the bound address once listening (useful with port 0).
func (p *Proxy) ListenV1(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p.ServeV1(l)
	return l.Addr(), nil
}

// ServeV1 accepts Stratum V1 miners on l in the background until Close. Its connections
// count against [limits]; one refused over a limit is told so in JSON and closed.
func (p *Proxy) ServeV1(l net.Listener) { p.serveV1(p.guard.listener(l, refusedLineV1)) }

func (p *Proxy) serveV1(l net.Listener) {
	p.mu.Lock()
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || p.ctx.Err() != nil {
					return
				}
				p.log.Warn().Err(err).Msg("accept failed")
				select {
				case <-p.ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serveMinerV1(c)
			}()
		}
	}()
}

// noteExtranonce records an upstream's extranonce2 size. The miners' layout is fixed when the
// first miner subscribes, from the sizes known then, so it fits every pool that has answered.
func (p *Proxy) noteExtranonce(pl *pool, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.knownN == nil {
		p.knownN = map[*pool]int{}
	}
	if _, ok := p.knownN[pl]; !ok {
		p.knownN[pl] = n
		if len(p.knownN) == 1 {
			p.firstKnown = p.clk.Now()
		}
	}
	if p.layoutSet && !p.layout.Fits(n) {
		p.log.Error().Str("pool", pl.cfg.Name).Int("extranonce2_size", n).Int("needs", p.layout.PrefixSize+p.layout.MinerSize).
			Msg("pool leaves too little extranonce2 for the miners' layout; it cannot carry them")
	}
}

// groupWorkers lists the worker names mining on connection index idx.
func (p *Proxy) groupWorkers(idx int) []string {
	g := p.groupFor(idx)
	g.mu.Lock()
	chans := make([]*channel, 0, len(g.miners))
	for c := range g.miners {
		chans = append(chans, c)
	}
	g.mu.Unlock()
	seen := make(map[string]bool, len(chans))
	var out []string
	for _, c := range chans {
		if w := c.workerName(); w != "" && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// layoutFits reports whether an upstream extranonce2 of n bytes can carry the miners' layout
// (true while no layout is fixed yet).
// It takes no lock: pool health is checked with p.mu held.
func (p *Proxy) layoutFits(n int) bool {
	l := p.fixedLayout.Load()
	return l == nil || l.Fits(n)
}

// waitLayout returns the miners' extranonce layout, fixing it on first use. It waits until a
// pool has answered and gives the highest-priority pool a few seconds to answer too.
//
// When no pool has answered within startupGrace of the proxy's start, it fixes a provisional
// layout at once instead: a miner that connects while every pool is down has its subscribe
// answered and mines as soon as a pool comes up. The alternative, an error to subscribe, makes
// firmware with backup pool URLs fail over at once and move the fleet off hashgate for what
// may be a short pool outage; silence until the 30 s wait ends does the same by timeout. The
// provisional layout is [extranonce] prefix_bytes plus miner_bytes, or plus the 2-byte
// minimum when miner_bytes is 0: 4 bytes in all by default, which every common pool's
// extranonce2 carries, so the pool that comes up later can take the miners. It holds until
// restart, like any fixed layout.
func (p *Proxy) waitLayout(ctx context.Context) (work.Layout, error) {
	for {
		p.mu.Lock()
		if p.layoutSet {
			l := p.layout
			p.mu.Unlock()
			return l, nil
		}
		now := p.clk.Now()
		if len(p.knownN) == 0 {
			if now.Sub(p.started) >= startupGrace {
				l := work.Layout{PrefixSize: p.cfg.Extranonce.PrefixBytes, MinerSize: max(p.cfg.Extranonce.MinerBytes, work.MinMinerSize)}
				if err := l.Validate(); err != nil {
					p.mu.Unlock()
					p.log.Error().Err(err).Int("prefix_bytes", l.PrefixSize).Msg("no usable extranonce layout")
					return l, err
				}
				p.fixLayoutLocked(l)
				p.mu.Unlock()
				p.log.Warn().Int("prefix_bytes", l.PrefixSize).Int("miner_extranonce2_size", l.MinerSize).
					Msg("no pool answered: provisional extranonce layout fixed so miners can subscribe; they get work when a pool comes up")
				return l, nil
			}
		} else if _, primary := p.knownN[p.poolList()[0]]; primary || now.Sub(p.firstKnown) > 5*time.Second {
			n := 1 << 30
			for _, v := range p.knownN {
				n = min(n, v)
			}
			var l work.Layout
			var err error
			if mb := p.cfg.Extranonce.MinerBytes; mb > 0 {
				l = work.Layout{PrefixSize: p.cfg.Extranonce.PrefixBytes, MinerSize: mb}
				if !l.Fits(n) {
					err = fmt.Errorf("%w: pools give %d bytes", work.ErrLayoutDoesNotFit, n)
				}
			} else {
				l, err = work.ChooseLayout(n, p.cfg.Extranonce.PrefixBytes)
			}
			if err != nil {
				p.mu.Unlock()
				p.log.Error().Err(err).Int("prefix_bytes", p.cfg.Extranonce.PrefixBytes).Msg("no usable extranonce layout")
				return l, err
			}
			p.fixLayoutLocked(l)
			p.mu.Unlock()
			p.log.Info().Int("prefix_bytes", l.PrefixSize).Int("miner_extranonce2_size", l.MinerSize).
				Int("miners_per_upstream", p.alloc.perConn).Msg("extranonce layout fixed")
			return l, nil
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return work.Layout{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fixLayoutLocked fixes the miners' layout for the proxy's life; p.mu is held.
func (p *Proxy) fixLayoutLocked(l work.Layout) {
	p.layout, p.layoutSet = l, true
	p.fixedLayout.Store(&l)
}

func (p *Proxy) groupFor(idx int) *group {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.groups) <= idx {
		p.groups = append(p.groups, &group{idx: len(p.groups), miners: map[*channel]struct{}{}})
	}
	return p.groups[idx]
}

// attach puts a miner on its group and hands it the group's current work.
func (p *Proxy) attach(s *channel) {
	g := p.groupFor(s.slot.conn)
	for _, pl := range p.poolList() {
		pl.ensureConns(s.slot.conn + 1)
	}
	on := p.split.join(s, p.clk.Now()) // nil unless the split runs
	g.mu.Lock()
	g.miners[s] = struct{}{}
	cur, fresh := g.cur, g.cur == nil
	if on != nil {
		cur = g.lanes[on]
	}
	g.mu.Unlock()
	if cur == nil || cur.stale() {
		// The group is new (or has no work of the miner's split pool yet, or only work
		// superseded, such as a pool's that just left the split): publish the pool's
		// current job for it, if any.
		a := p.activePool()
		if on != nil {
			a = on
		}
		if a != nil {
			if u := a.conn(s.slot.conn); u != nil {
				if j := u.current(); j != nil {
					p.publish(u, j, fresh)
					return
				}
			}
		}
		return
	}
	s.offer(cur, offerClean)
}

func (p *Proxy) detach(s *channel) {
	if !s.hasSlot {
		return
	}
	g := p.groupFor(s.slot.conn)
	g.mu.Lock()
	delete(g.miners, s)
	g.mu.Unlock()
	p.split.leave(s)
}

func (p *Proxy) activePool() *pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// onJob is called by an upstream connection for every new job it receives.
func (p *Proxy) onJob(u upstream, pl *pool, idx int, j *work.Job) {
	if idx == 0 {
		p.noteExtranonce(pl, j.Extranonce2Size)
	}
	if p.activePool() != pl && !p.split.has(pl) {
		// A standby pool's work is kept (u.current) for an instant failover.
		p.maybeFailover()
		return
	}
	p.publish(u, j, j.Clean)
}

// publish turns j into a proxy job and offers it to every miner of the group.
func (p *Proxy) publish(u upstream, j *work.Job, retire bool) {
	p.mu.Lock()
	layout, ok := p.layout, p.layoutSet
	p.mu.Unlock()
	if !ok {
		return
	}
	idx := u.(interface{ index() int }).index()
	g := p.groupFor(idx)
	cb1, cb2, err := layout.DownstreamCoinbase(j)
	if err != nil {
		p.log.Warn().Err(err).Str("pool", u.poolName()).Int("extranonce2_size", j.Extranonce2Size).Msg("job does not fit the miners' extranonce layout; not published")
		return
	}
	now := p.clk.Now()
	seq := p.nextJob.Add(1)
	pj := &proxyJob{
		localID: strconv.FormatUint(seq, 16),
		seq:     seq,
		job:     j,
		up:      u,
		pool:    u.owner(),
		coinb1:  cb1,
		coinb2:  cb2,
		retire:  retire,
		poolDif: poolDifficulty(j.Target),
		created: now,
		minted:  now,
		ntime:   j.NTime,
	}
	splitting := p.split.running()
	g.mu.Lock()
	cur := g.cur
	if splitting {
		cur = g.lanes[pj.pool] // the split keeps each pool's work apart
	}
	if cur != nil && cur.up == u {
		if cur.job != j && j.Received.Before(cur.job.Received) {
			// A newer job from the same upstream was published meanwhile (a re-announce or a
			// failover racing the pool's reader): never put older work back.
			g.mu.Unlock()
			return
		}
		if cur.job == j {
			// The same work again (a re-announce, or a second publish of the job in force):
			// earlier ids for it stay valid, so nothing is retired. Move its ntime on so that
			// firmware restarting its extranonce2 counter does not redo what it hashed.
			retire, pj.retire = false, false
			pj.ntime = nextNTime(cur.ntime, uint32(now.Unix()), j.NTime)
		}
	}
	pj.encodeV1()
	if retire {
		// another split pool's work stays good
		g.supersede(func(old *proxyJob) bool { return splitting && old.pool != pj.pool })
	}
	g.live = append(g.live, pj)
	g.trimLive()
	g.cur = pj
	if g.lanes == nil {
		g.lanes = map[*pool]*proxyJob{}
	}
	g.lanes[pj.pool] = pj
	miners := make([]*channel, 0, len(g.miners))
	for s := range g.miners {
		miners = append(miners, s)
	}
	g.mu.Unlock()
	if splitting {
		miners = p.split.assigned(miners, pj.pool, p.activePool())
	}
	kind := offerNormal
	if retire {
		kind = offerRetire
	}
	fanOut(miners, pj, kind)
}

// maxTrimmed bounds a group's trimmed list. Drop policy: past it the oldest are marked stale
// at once, so a pool that never sends a clean job cannot grow the list; such work is hundreds
// of jobs old, and only a miner paused all that while could still hold it. The work the group
// hands out now (current) is kept past the bound instead, at most two jobs per pool and one
// more: a pool flooding the group with jobs must not make another pool's work stale while
// its miners mine it.
const maxTrimmed = 64 * maxJobsPerChannel

// supersede marks the group's live and trimmed jobs stale, except those keep holds on to,
// which stay live. Called under g.mu.
func (g *group) supersede(keep func(*proxyJob) bool) {
	g.live = supersedeIn(g.live, keep)
	g.trimmed = supersedeIn(g.trimmed, keep)
}

// supersedeIn marks the jobs of list that keep refuses stale and returns the others, in
// place.
func supersedeIn(list []*proxyJob, keep func(*proxyJob) bool) []*proxyJob {
	kept := list[:0]
	for _, old := range list {
		if keep(old) {
			kept = append(kept, old)
			continue
		}
		old.superseded.Store(true)
	}
	clear(list[len(kept):])
	return kept
}

// trimLive cuts live to its last maxJobsPerChannel once it passes 4x, moving the cut jobs to
// trimmed so the next retire still marks them stale. Called under g.mu.
func (g *group) trimLive() {
	if len(g.live) <= 4*maxJobsPerChannel {
		return
	}
	cut := len(g.live) - maxJobsPerChannel
	g.trimmed = append(g.trimmed, g.live[:cut]...)
	if over := len(g.trimmed) - maxTrimmed; over > 0 {
		kept := g.trimmed[:0]
		for i, old := range g.trimmed {
			if i >= over || g.current(old) {
				kept = append(kept, old)
				continue
			}
			old.superseded.Store(true)
		}
		clear(g.trimmed[len(kept):])
		g.trimmed = kept
	}
	n := copy(g.live, g.live[cut:])
	clear(g.live[n:])
	g.live = g.live[:n]
}

// current says whether pj is work the group hands out now: g.cur, a pool's lane, or the
// published job either re-issues. Called under g.mu.
func (g *group) current(pj *proxyJob) bool {
	if g.cur != nil && g.cur.root() == pj {
		return true
	}
	l := g.lanes[pj.pool]
	return l != nil && l.root() == pj
}

// reannounce re-sends every group's work under a fresh job id when it has gone stale in the
// miners' eyes, ahead of firmware watchdogs.
func (p *Proxy) reannounce(now time.Time) {
	p.mu.Lock()
	groups := append([]*group(nil), p.groups...)
	p.mu.Unlock()
	for _, g := range groups {
		for _, cur := range p.groupWork(g) {
			if now.Sub(cur.created) >= p.cfg.Reannounce.D() {
				p.publish(cur.up, cur.job, false)
			}
		}
	}
}

// supervise runs failover checks and re-announcements once a second.
func (p *Proxy) supervise() {
	defer p.wg.Done()
	t := p.clk.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-t.C():
			p.maybeFailover()
			p.splitTick(now)
			p.reannounce(now)
			p.tickSessions(now)
		}
	}
}

// maybeFailover moves miners to the best healthy pool. Decisions run one at a time
// (rt.failMu): the supervisor's, a new job's and a console edit's would otherwise interleave,
// and one made from a pool list an edit has replaced could commit last.
func (p *Proxy) maybeFailover() {
	p.rt.failMu.Lock()
	defer p.rt.failMu.Unlock()
	p.failoverLocked()
}

// failoverLocked is maybeFailover with rt.failMu held.
func (p *Proxy) failoverLocked() {
	now := p.clk.Now()
	pools := p.poolList()
	// An operator's forced pool mines while it is healthy (pools_runtime.go).
	best, forced := p.forcedChoice(now)
	for _, pl := range pools {
		if best != nil {
			break
		}
		if ok, _ := pl.healthy(now); ok {
			best = pl
		}
	}
	lastResort := false
	if best == nil {
		// No pool is healthy: one only cooling down after rejects or unanswered submits, but
		// connected and sending work, is better than leaving the fleet on a pool with none.
		for _, pl := range pools {
			if pl.hasWork(now) {
				best, lastResort = pl, true
				break
			}
		}
	}
	// Weighted pools of best's priority share the miners (split.go).
	members := p.splitMembers(best, lastResort || forced, now)
	best = p.splitLead(members, best)
	p.mu.Lock()
	cur := p.active
	if best == nil || best == cur {
		p.mu.Unlock()
		if best != nil {
			p.commitSplit(members, best, now)
		}
		return
	}
	// At start, give better pools a moment to answer before settling on a backup.
	if cur == nil && !forced && best != pools[0] && now.Sub(p.started) < startupGrace {
		p.mu.Unlock()
		return
	}
	// Fail back to a better pool only once it has been healthy for a while, so a flapping
	// pool does not bounce the fleet.
	if cur != nil && !forced {
		if curOK, _ := cur.healthy(now); curOK && now.Sub(best.healthySince()) < failbackDelay {
			p.mu.Unlock()
			return
		}
	}
	p.active = best
	groups := append([]*group(nil), p.groups...)
	p.mu.Unlock()
	p.commitSplit(members, best, now)
	from := "none"
	if cur != nil {
		from = cur.cfg.Name
	}
	ev := p.log.Warn().Str("from", from).Str("to", best.cfg.Name)
	if lastResort {
		ev = ev.Bool("cooling_down", true)
	}
	ev.Msg("switching pool")
	for _, g := range groups {
		if u := best.conn(g.idx); u != nil {
			if j := u.current(); j != nil {
				p.publish(u, j, true)
			}
		}
	}
	if len(groups) == 0 {
		if u := best.conn(0); u != nil {
			if j := u.current(); j != nil {
				p.publish(u, j, true)
			}
		}
	}
}

const (
	failbackDelay = 10 * time.Second
	startupGrace  = 5 * time.Second
)

func (p *Proxy) tickSessions(now time.Time) {
	p.mu.Lock()
	ss := make([]*channel, 0, len(p.channels))
	for _, s := range p.channels {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	for _, s := range ss {
		s.tick(now)
	}
}

// record counts a share event everywhere it is counted and hands it to the ledger sink.
func (p *Proxy) record(s *channel, pl *pool, ev ShareEvent) {
	p.counters.add(ev.Result)
	if s != nil {
		s.counters.add(ev.Result)
	}
	if pl != nil {
		pl.counters.add(ev.Result)
		if ev.Result == ResultAccepted {
			pl.accepted.add(ev.Difficulty)
		}
	}
	if p.sink != nil {
		p.sink.RecordShare(ev)
	}
}

// Pause stops job delivery to a worker (and stops forwarding its shares); Resume undoes it
// and sends the worker a clean job at once. The state is kept by worker name, so it survives
// reconnects.
func (p *Proxy) Pause(worker string) { p.setPaused(worker, true) }

// Resume lets a paused worker mine again.
func (p *Proxy) Resume(worker string) { p.setPaused(worker, false) }

func (p *Proxy) setPaused(worker string, paused bool) {
	p.mu.Lock()
	if paused {
		p.paused[worker] = true
	} else {
		delete(p.paused, worker)
	}
	hit := make([]*channel, 0, len(p.byWorker[worker]))
	for c := range p.byWorker[worker] {
		hit = append(hit, c)
	}
	p.mu.Unlock()
	for _, s := range hit {
		s.setPaused(paused)
	}
}

func (p *Proxy) isPaused(worker string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused[worker]
}

// bindWorker records that c mines as worker (once, at authorization) so the gate finds a
// worker's channels without scanning the fleet, and applies the worker's gate state.
func (p *Proxy) bindWorker(c *channel, worker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byWorker[worker] == nil {
		p.byWorker[worker] = map[*channel]struct{}{}
	}
	p.byWorker[worker][c] = struct{}{}
	c.paused.Store(p.paused[worker])
}

func (p *Proxy) addChannel(s *channel) {
	p.mu.Lock()
	p.channels[s.id] = s
	p.mu.Unlock()
}

func (p *Proxy) removeChannel(s *channel) {
	w := s.workerName()
	p.mu.Lock()
	delete(p.channels, s.id)
	if set := p.byWorker[w]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(p.byWorker, w)
		}
	}
	p.mu.Unlock()
	p.detach(s)
	if s.hasSlot {
		p.alloc.put(s.slot)
	}
}

// Workers returns one row per connected miner.
func (p *Proxy) Workers() []WorkerStats {
	now := p.clk.Now()
	p.mu.Lock()
	ss := make([]*channel, 0, len(p.channels))
	for _, s := range p.channels {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	out := make([]WorkerStats, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.stats(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Identity is who a connected channel mines as and where it connects from.
type Identity struct {
	Worker string
	Remote string // host:port
	// LastShare is when the channel last submitted a share valid under its own target (zero:
	// never): the evidence that a session is a working miner.
	LastShare time.Time
}

// Identities lists every authorized channel's worker and address: the cheap view for callers
// that poll the fleet often (the power policy's inventory), without Workers' statistics.
func (p *Proxy) Identities() []Identity {
	p.mu.Lock()
	chans := make([]*channel, 0, len(p.channels))
	for _, c := range p.channels {
		chans = append(chans, c)
	}
	p.mu.Unlock()
	out := make([]Identity, 0, len(chans))
	for _, c := range chans {
		c.mu.Lock()
		w, last := c.worker, c.lastShare
		c.mu.Unlock()
		if w != "" {
			out = append(out, Identity{Worker: w, Remote: c.remote, LastShare: last})
		}
	}
	return out
}

// Pools returns one row per configured pool, in priority order.
func (p *Proxy) Pools() []PoolStats {
	now := p.clk.Now()
	active, forced := p.activePool(), p.rt.forced.Load()
	pools := p.poolList()
	out := make([]PoolStats, 0, len(pools))
	for _, pl := range pools {
		st := pl.stats(now, pl == active || p.split.has(pl))
		st.Forced = pl == forced
		out = append(out, st)
	}
	return out
}

// Status returns the proxy-wide summary.
func (p *Proxy) Status() Status {
	now := p.clk.Now()
	p.mu.Lock()
	st := Status{Miners: len(p.channels), Started: p.started}
	live := make([]*channel, 0, len(p.channels))
	for _, s := range p.channels {
		if s.paused.Load() {
			st.Paused++
			continue
		}
		if s.isRunning() {
			st.Running++
		}
		live = append(live, s)
	}
	if p.active != nil {
		st.ActivePool = p.active.cfg.Name
	}
	p.mu.Unlock()
	for _, s := range live {
		st.Hashrate += s.rate.rates(now, s.connected).H5m // connected is set at birth
	}
	r := p.rate.rates(now, st.Started)
	st.Hashrate5m, st.Hashrate1h, st.Hashrate24h = r.H5m, r.H1h, r.H24h
	st.Shares = p.counters.Map()
	st.Blocks = p.counters.Get(ResultBlock)
	st.Drops = p.drops.snapshot()
	st.Conns = p.guard.stats()
	st.Conns.Parked = p.park.count()
	return st
}

// poolVersionMask is the version-rolling mask of the active pool (BIP320 bits before any
// pool has answered).
func (p *Proxy) poolVersionMask() uint32 {
	if a := p.activePool(); a != nil {
		if u := a.conn(0); u != nil && u.up() {
			return u.versionMask()
		}
	}
	return 0x1fffe000
}

func (p *Proxy) String() string { return fmt.Sprintf("hashgate proxy (%d pools)", len(p.poolList())) }
