package proxy

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hashrate split between pools ([[pool]] weight).
//
// Pools of the best healthy priority that have a weight share the miners' work: every miner
// mines one of them at a time and is moved between them in slices, so that each miner's own
// shares on each pool converge to the weights. Any miner can take any pool's job at once: its
// extranonce prefix is a slot on connection index i, and every pool has a connection i, so
// switching is a clean job from the other pool's connection, like a failover for one miner.
// Shares go to the pool whose job they are for (proxyJob.up), so a share in flight across a
// switch still reaches the pool that issued its job.
//
// The schedule is a smooth weighted round robin over work credits. Slices are time (a miner
// may move only at its slice boundaries), but what is split is the work the pools see: for
// each valid share a miner sends, every member pool is owed its share of it and the pool the
// share is for pays it (a share found across a switch counts where it goes); at each of its
// slice boundaries the miner takes the pool most owed at the end of the next slice, taken to
// carry as many shares as the last one, its own credits and the fleet's (per miner) added.
// That keeps each miner's work on a pool within about one slice of its weight over any
// window however its hashrate moves (a throttled or CPU-starved miner, shares in bursts), and
// the fleet's closer. Credits in seconds held the time split exactly but let the share split
// drift with the rate: 47.6-54.8 % for a weight-2 pool of 1/1/2 over 5 loaded minutes. The
// miners' boundaries are spread over the slice (a phase from the channel id) so the fleet is
// never switched all at once.

// splitSlice is how long a miner mines one pool before the schedule may move it. A move
// costs one clean job: firmware drops the work queued in its chips, a few to some tens of
// milliseconds of hashing (shares already found on the old pool's job still reach it: those
// jobs stay valid for the miner). A 30/70 split moves a miner about 6 times in 10 slices, so
// at 6 s that is well under 0.5 % of its work. A miner's shares on a pool stay within about
// one slice's worth of its weight over any window: 6 s of 10 minutes is 1 % of a ±2 % budget.
const splitSlice = 6 * time.Second

// splitter is the one owner of the split: which pools share the miners now, and each miner's
// schedule. Lock order: a group's mu may be held when mu is taken, never the reverse.
type splitter struct {
	// settleMu serialises membership changes and the per-second schedule, which both move
	// miners.
	settleMu sync.Mutex

	mu      sync.Mutex
	members []splitMember // two or more while the split runs, else none
	// left holds pools that dropped out: they rejoin only once healthy for failbackDelay.
	left   map[*pool]bool
	miners map[*channel]*minerSplit
	// fleet is the sum of the miners' credits, departed ones' included: the work each pool
	// is owed by the fleet since the split started.
	fleet minerSplit
	on    atomic.Bool             // the split runs (read without mu on the job path)
	pools atomic.Pointer[[]*pool] // the members' pools, replaced whole (memberPools)
}

// splitMember is a pool in the split with its share of the miners' time.
type splitMember struct {
	pl    *pool
	share float64
}

// minerSplit is one miner's schedule.
type minerSplit struct {
	pool   *pool        // the pool the miner is given now
	credit []poolCredit // work each pool is owed
	next   time.Time    // the miner's next slice boundary
	slice  float64      // shares mined since the last boundary
}

type poolCredit struct {
	pl   *pool
	owed float64
}

func (m *minerSplit) owed(pl *pool) *float64 {
	for i := range m.credit {
		if m.credit[i].pl == pl {
			return &m.credit[i].owed
		}
	}
	m.credit = append(m.credit, poolCredit{pl: pl})
	return &m.credit[len(m.credit)-1].owed
}

// phase spreads miners' slice boundaries over the slice: the fractional part of id×φ is as
// evenly spread as a sequence of ids allows.
func phase(id uint64, mul float64) float64 {
	_, f := math.Modf(float64(id) * mul)
	return f
}

const (
	goldenRatio = 1.6180339887498949
	sqrt2       = 1.4142135623730951
)

// weightNow is the pool's weight in the split: its [[pool]] weight, or the console's edit of
// it (a weight edit keeps the pool and its connections).
func (pl *pool) weightNow() float64 { return math.Float64frombits(pl.weight.Load()) }

func (pl *pool) setWeight(w float64) { pl.weight.Store(math.Float64bits(w)) }

// running says whether the split is on.
func (s *splitter) running() bool { return s.on.Load() }

// memberPools lists the pools of the running split (none while it is off), without a lock
// or an allocation: it is read for every miner when a block retires their jobs.
func (s *splitter) memberPools() []*pool {
	if l := s.pools.Load(); l != nil && s.on.Load() {
		return *l
	}
	return nil
}

// retireJobs voids the jobs c holds when pj retires them (new block, pool switch). While the
// split runs (members), only pj's pool's jobs go: the other members' jobs are still valid at
// their pools, and a miner just moved from one of them still has shares in flight for it,
// which a new block at the pool it moved to must not make stale. Jobs of pools out of the
// split, or superseded, go too. Called under c.mu.
func (c *channel) retireJobs(pj *proxyJob, members []*pool) {
	kept := 0
	if len(members) >= 2 && slices.Contains(members, pj.pool) {
		// Oldest first at index 0 (a full ring's oldest is at jobNext), then compacted in
		// place: no allocation for a fleet retiring its jobs at once.
		j := int(c.jobNext)
		slices.Reverse(c.jobs[:j])
		slices.Reverse(c.jobs[j:])
		slices.Reverse(c.jobs)
		for _, rec := range c.jobs {
			if rec.pj.pool != pj.pool && !rec.pj.stale() && slices.Contains(members, rec.pj.pool) {
				c.jobs[kept] = rec
				kept++
			}
		}
	}
	clear(c.jobs[kept:]) // no voided record keeps its job alive
	c.jobs, c.jobNext = c.jobs[:kept], 0
}

// has says whether pl is in the running split.
func (s *splitter) has(pl *pool) bool {
	if !s.on.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.members {
		if m.pl == pl {
			return true
		}
	}
	return false
}

func (s *splitter) memberLocked(pl *pool) (splitMember, bool) {
	for _, m := range s.members {
		if m.pl == pl {
			return m, true
		}
	}
	return splitMember{}, false
}

// join gives a new miner its schedule and first pool; nil while the split is off.
func (s *splitter) join(c *channel, now time.Time) *pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.members) < 2 {
		return nil
	}
	return s.joinLocked(c, now).pool
}

func (s *splitter) joinLocked(c *channel, now time.Time) *minerSplit {
	if m := s.miners[c]; m != nil {
		return m
	}
	if s.miners == nil {
		s.miners = map[*channel]*minerSplit{}
	}
	first := time.Duration(phase(c.id, goldenRatio) * float64(splitSlice))
	if first <= 0 {
		first = splitSlice
	}
	m := &minerSplit{next: now.Add(first)}
	// The first pool follows another spread of the ids, so the fleet starts split by weight.
	u, cum := phase(c.id, sqrt2), 0.0
	m.pool = s.members[len(s.members)-1].pl
	for _, mb := range s.members {
		cum += mb.share
		if u < cum {
			m.pool = mb.pl
			break
		}
	}
	s.miners[c] = m
	return m
}

// leave forgets a departed miner.
func (s *splitter) leave(c *channel) {
	s.mu.Lock()
	delete(s.miners, c)
	s.mu.Unlock()
}

// mined credits one valid share of c for pl's job: the schedule's unit of work is the share,
// counted for the pool whose job it is for (a miner's difficulty moves seldom, so its shares
// split as its work does). Shares found across a switch count for the pool they reach.
func (s *splitter) mined(c *channel, pl *pool) {
	s.mu.Lock()
	if m := s.miners[c]; m != nil {
		s.creditLocked(m, pl, 1)
	}
	s.mu.Unlock()
}

// creditLocked: every member is owed its share of w, and pl, which got w, pays it.
func (s *splitter) creditLocked(m *minerSplit, pl *pool, w float64) {
	if _, ok := s.memberLocked(pl); !ok {
		return
	}
	for _, mb := range s.members {
		*m.owed(mb.pl) += mb.share * w
		*s.fleet.owed(mb.pl) += mb.share * w
	}
	*m.owed(pl) -= w
	*s.fleet.owed(pl) -= w
	m.slice += w
}

// stepLocked moves a miner at its slice boundary, or at once when its pool left the split.
// It returns the pool the miner is to mine.
func (s *splitter) stepLocked(m *minerSplit, now time.Time) *pool {
	_, stays := s.memberLocked(m.pool)
	if stays && now.Before(m.next) {
		return m.pool
	}
	// The next slice is taken to carry the last one's work. The fleet's credits count too,
	// as much as an average miner's: a few miners' own leftovers of less than a slice each
	// would otherwise add up at the pools (three miners: 1.6 points over 5 minutes).
	if _, ok := s.memberLocked(m.pool); ok && m.slice == 0 {
		// No share all slice (a silent or paused miner, or one at a difficulty it meets
		// seldom): it is scheduled by time, a share a second, so it still takes every pool's
		// work in turn. Its own credits only: the pools saw none of it.
		for _, mb := range s.members {
			*m.owed(mb.pl) += mb.share * splitSlice.Seconds()
		}
		*m.owed(m.pool) -= splitSlice.Seconds()
		m.slice = splitSlice.Seconds()
	}
	next := m.slice
	m.slice = 0
	n := float64(max(len(s.miners), 1))
	best, bestOwed := s.members[0].pl, math.Inf(-1)
	for _, mb := range s.members {
		if o := *m.owed(mb.pl) + *s.fleet.owed(mb.pl)/n + mb.share*next; o > bestOwed {
			best, bestOwed = mb.pl, o
		}
	}
	m.pool = best
	if !now.Before(m.next) {
		k := now.Sub(m.next)/splitSlice + 1
		m.next = m.next.Add(k * splitSlice)
	}
	return best
}

// setMembers installs the pools that share the miners (fewer than two: no split) and says
// whether anything changed. A pool that leaves is remembered so that it rejoins only once it
// has been healthy for failbackDelay, like a failback.
func (s *splitter) setMembers(pools []*pool) bool {
	// Weights over the largest: a sum of weights near the float64 limit would be +Inf and
	// every share 0.
	var top, total float64
	for _, pl := range pools {
		top = max(top, pl.weightNow())
	}
	for _, pl := range pools {
		total += pl.weightNow() / top
	}
	var next []splitMember
	if len(pools) >= 2 {
		for _, pl := range pools {
			next = append(next, splitMember{pl: pl, share: pl.weightNow() / top / total})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	same := len(next) == len(s.members)
	for i := 0; same && i < len(next); i++ {
		same = next[i] == s.members[i]
	}
	if same {
		return false
	}
	if s.left == nil {
		s.left = map[*pool]bool{}
	}
	for _, old := range s.members {
		found := false
		for _, pl := range pools {
			found = found || pl == old.pl
		}
		if !found {
			s.left[old.pl] = true
		}
	}
	for _, mb := range next {
		delete(s.left, mb.pl)
	}
	s.members = next
	list := make([]*pool, 0, len(next))
	for _, mb := range next {
		list = append(list, mb.pl)
	}
	s.pools.Store(&list)
	if len(next) == 0 {
		s.miners, s.fleet = nil, minerSplit{}
	}
	s.on.Store(len(next) > 0)
	return true
}

// reweighed forgets that pl left the split: the operator changed its weight, and a pool
// taken out by a weight of 0 comes back with its new weight at once, not after the failback
// delay that keeps a flapping pool out.
func (s *splitter) reweighed(pl *pool) {
	s.mu.Lock()
	delete(s.left, pl)
	s.mu.Unlock()
}

// rejoining says whether pl left the split and has not come back yet.
func (s *splitter) rejoining(pl *pool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.left[pl]
}

// assigned keeps the channels given pl now. When the split ended meanwhile (a publish that
// raced commitSplit), every channel mines active again: they get pl's job if pl is active,
// else none (a pool that just left must not take the fleet).
func (s *splitter) assigned(chans []*channel, pl, active *pool) []*channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.members) < 2 {
		if pl == active {
			return chans
		}
		return nil
	}
	out := chans[:0]
	for _, c := range chans {
		if m := s.miners[c]; m != nil && m.pool == pl {
			out = append(out, c)
		}
	}
	return out
}

// names lists the members with their weights, for logs.
func (s *splitter) names() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, m := range s.members {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.pl.cfg.Name)
	}
	return b.String()
}

// splitMembers lists the pools that are to share the miners now: the healthy pools with a
// weight in best's priority. A pool that left the split comes back once it has been healthy
// for failbackDelay. None when the fleet is on a pool only as a last resort.
func (p *Proxy) splitMembers(best *pool, lastResort bool, now time.Time) []*pool {
	if best == nil || lastResort {
		return nil
	}
	var out []*pool
	for _, pl := range p.poolList() {
		if pl.prio.Load() != best.prio.Load() || !(pl.weightNow() > 0) {
			continue
		}
		if ok, _ := pl.healthy(now); !ok {
			continue
		}
		if p.split.rejoining(pl) && now.Sub(pl.healthySince()) < failbackDelay {
			continue
		}
		out = append(out, pl)
	}
	return p.splitMaskFilter(out) // split_mask.go
}

// splitLead is the pool shown active while members share the miners: the active pool when
// it is one of them (no needless switch), else the first.
func (p *Proxy) splitLead(members []*pool, best *pool) *pool {
	if len(members) < 2 {
		return best
	}
	cur := p.activePool()
	for _, pl := range members {
		if pl == cur {
			return cur
		}
	}
	return members[0]
}

// commitSplit installs the split decided by maybeFailover (members; active is the pool
// miners mine when there is no split) and, when it changed, retires the jobs of pools no
// longer mined and moves every miner onto the pool it is to mine.
func (p *Proxy) commitSplit(members []*pool, active *pool, now time.Time) {
	p.split.settleMu.Lock()
	defer p.split.settleMu.Unlock()
	if !p.split.setMembers(members) {
		return
	}
	if p.split.running() {
		p.log.Info().Str("pools", p.split.names()).Msg("hashrate split between pools")
	} else {
		p.log.Info().Str("pool", active.cfg.Name).Msg("hashrate split ended: one pool mines")
	}
	mined := func(pl *pool) bool { return pl == active }
	if p.split.running() {
		mined = p.split.has
	}
	for _, g := range p.groupList() {
		g.mu.Lock()
		// The trimmed jobs too: a paused miner may still hold one of a pool no longer mined.
		g.supersede(func(pj *proxyJob) bool { return pj.pool == nil || mined(pj.pool) })
		if l := g.lanes[active]; !p.split.running() && l != nil && !l.stale() {
			// The split ended: g.cur, the last job published, may be the departed pool's,
			// which a new miner would be given and the re-announce would publish again to
			// every miner. The group's work is active's again.
			g.cur = l
		}
		g.mu.Unlock()
		if p.split.running() {
			p.openLanes(g)
		}
	}
	p.settle(now, active)
}

// openLanes publishes, before any miner is moved, the current work of each member pool that
// has none in g yet, or only older work. Published while no miner is given the pool, it
// reaches no one; a miner moved there then gets it as a clean job that keeps the other
// pools' jobs it holds. Published while moving a miner (moveTo), a pool's first work retired
// every job its miners held, and their shares in flight for the pool they had just left, a
// member whose job is still valid, were answered stale.
func (p *Proxy) openLanes(g *group) {
	p.split.mu.Lock()
	members := make([]*pool, 0, len(p.split.members))
	for _, m := range p.split.members {
		members = append(members, m.pl)
	}
	p.split.mu.Unlock()
	for _, pl := range members {
		u := pl.conn(g.idx)
		if u == nil {
			continue
		}
		j := u.current()
		if j == nil {
			continue
		}
		g.mu.Lock()
		cur := g.lanes[pl]
		g.mu.Unlock()
		switch {
		case cur == nil:
			p.publish(u, j, false)
		case cur.stale() || cur.job != j && cur.job.Received.Before(j.Received):
			// Its work from an earlier stint: a new block there retires that.
			p.publish(u, j, cur.job.PrevHash != j.PrevHash)
		}
	}
}

// splitTick runs the miners' schedules once a second while the split runs.
func (p *Proxy) splitTick(now time.Time) {
	if !p.split.running() {
		return
	}
	p.split.settleMu.Lock()
	defer p.split.settleMu.Unlock()
	p.settle(now, nil)
}

// settle puts every miner on the pool it is to mine: its scheduled pool while the split runs,
// else active. A miner already mining it is left alone.
func (p *Proxy) settle(now time.Time, active *pool) {
	for _, g := range p.groupList() {
		g.mu.Lock()
		chans := make([]*channel, 0, len(g.miners))
		for c := range g.miners {
			chans = append(chans, c)
		}
		g.mu.Unlock()
		targets := make([]*pool, len(chans))
		var joined []*channel // given a schedule here: they may have left since the copy
		s := &p.split
		s.mu.Lock()
		if len(s.members) >= 2 {
			for i, c := range chans {
				if s.miners[c] == nil {
					joined = append(joined, c)
				}
				targets[i] = s.stepLocked(s.joinLocked(c, now), now)
			}
		} else {
			for i := range targets {
				targets[i] = active
			}
		}
		s.mu.Unlock()
		// A miner that detached after the copy lost its schedule (detach: out of the group,
		// then leave) before or after the join above; one joined after its leave is out of
		// the group by now, and is forgotten here instead of held until the split ends.
		if len(joined) > 0 {
			g.mu.Lock()
			gone := joined[:0]
			for _, c := range joined {
				if _, ok := g.miners[c]; !ok {
					gone = append(gone, c)
				}
			}
			g.mu.Unlock()
			for _, c := range gone {
				s.leave(c)
			}
		}
		for i, c := range chans {
			// A paused miner is offered nothing, so its last job never shows the move and
			// it would be moved again every second; its schedule goes on, and Resume gives
			// it the pool scheduled then (resumed).
			if pl := targets[i]; pl != nil && !c.paused.Load() && minedPool(c) != pl {
				p.moveTo(c, g, pl)
			}
		}
	}
}

// minedPool is the pool of the job last written to c (nil before its first).
func minedPool(c *channel) *pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastSent == nil {
		return nil
	}
	return c.lastSent.pool
}

// moveTo offers c the current work of pl in its group with clean_jobs. When that work was
// never published here (pl was standby), it is published now: to c and every other miner
// given pl, retiring pl's older jobs when the block changed. It says whether it offered or
// published anything: not when pl has no connection or job here (it just went down), nor
// when pl's work was retired meanwhile (it left the split).
func (p *Proxy) moveTo(c *channel, g *group, pl *pool) bool {
	u := pl.conn(g.idx)
	if u == nil {
		return false
	}
	j := u.current()
	if j == nil {
		return false
	}
	g.mu.Lock()
	cur := g.lanes[pl]
	g.mu.Unlock()
	if cur == nil || cur.stale() || cur.job != j && cur.job.Received.Before(j.Received) {
		p.publish(u, j, cur == nil || cur.job.PrevHash != j.PrevHash)
		return true
	}
	pj := p.reissue(g, cur, c)
	if pj == nil {
		return false
	}
	c.offer(pj, offerClean)
	return true
}

// resumed offers a miner let out of a pause its work at once: while the split runs, its
// scheduled pool's (settle does not move a paused miner, so the job it had last may be
// either pool's); else the group's current job. When that pool has none (its connection
// dropped and the next failover check has not taken it out of the split yet), another pool's
// work the group hands out now: else the miner would hash nothing until the next publish or
// settle.
func (p *Proxy) resumed(c *channel) {
	g := p.groupFor(c.slot.conn)
	pl := p.split.scheduled(c)
	if pl != nil {
		if p.moveTo(c, g, pl) {
			return
		}
	} else {
		g.mu.Lock()
		cur := g.cur
		g.mu.Unlock()
		if cur != nil && !cur.stale() {
			c.offer(cur, offerClean)
			return
		}
		// g.cur was superseded (a split just ended): active's work
		if pl = p.activePool(); pl != nil && p.moveTo(c, g, pl) {
			return
		}
	}
	for _, pj := range p.groupWork(g) {
		// Only work its pool's connection still carries: a lane outlives the session that
		// sent it until the pool's next clean job or the next failover check.
		if pj.pool == pl {
			continue
		}
		if u := pj.pool.conn(g.idx); u == nil || !u.up() || u.current() != pj.job {
			continue
		}
		if re := p.reissue(g, pj, c); re != nil {
			c.offer(re, offerClean)
			return
		}
	}
}

// scheduled is the pool c's schedule gives it now; nil while the split is off or c has no
// schedule.
func (s *splitter) scheduled(c *channel) *pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.miners[c]; m != nil && len(s.members) >= 2 {
		return m.pool
	}
	return nil
}

// reissue is cur's work under a fresh proxy job id and a later ntime, for c coming back to
// a pool: firmware ignores a job id it has had before (it would keep mining the other pool),
// and firmware that restarts its extranonce2 counter on a new job would redo the work it did
// on this job before, whose shares are duplicates.
//
// Miners moved to a pool within a second share one such job: each hashes it under its own
// extranonce prefix, and none has had its id (c is given a new one if it has). A fleet moved
// in slices so makes at most one job per pool, group and second whatever its size; a job per
// miner ran a group's job lists over at about 1,000 miners, and would give each of 100,000
// miners its own copy of the notify. A re-issue is stale when the job it repeats is (root),
// so a new block at its pool or the pool leaving the split retires it with that job.
//
// It returns nil when the pool's work here was retired after the caller looked (commitSplit
// took the pool out of the split): a re-issue of it would be stale too, sent as clean work.
func (p *Proxy) reissue(g *group, cur *proxyJob, c *channel) *proxyJob {
	now := p.clk.Now()
	for {
		g.mu.Lock()
		if l := g.lanes[cur.pool]; l != nil {
			cur = l // the pool's work may have moved on since the caller looked
		}
		g.mu.Unlock()
		if cur.stale() {
			return nil
		}
		if age := now.Sub(cur.minted); age >= 0 && age < time.Second && !c.holds(cur) {
			return cur
		}
		seq := p.nextJob.Add(1)
		pj := &proxyJob{
			localID: strconv.FormatUint(seq, 16),
			seq:     seq,
			job:     cur.job,
			up:      cur.up,
			pool:    cur.pool,
			coinb1:  cur.coinb1,
			coinb2:  cur.coinb2,
			origin:  cur.root(),
			poolDif: cur.poolDif,
			created: cur.created, // the work's age, for reannounce
			minted:  now,
			// Later than the lane's ntime and, a miner's returns being a slice or more
			// apart, than what it had before (job_timeout replaces the work long before the
			// ntime window ends).
			ntime: nextNTime(cur.ntime, uint32(now.Unix()), cur.job.NTime),
		}
		pj.encodeV1() // before the lane shows it: another miner moved here may be given it
		g.mu.Lock()
		if g.lanes[cur.pool] != cur || cur.stale() {
			g.mu.Unlock()
			// A publish or another re-issue moved the lane on meanwhile: take that. Or
			// commitSplit retired it (under g.mu): nothing to re-issue.
			continue
		}
		// It becomes the lane: the next re-issue or re-announce of this work takes a later
		// ntime still. A re-announce in the second of a switch gave the same work at the
		// same ntime to the miner just moved here, and a standard SV2 channel hashed it
		// again from nonce 0: every share a duplicate.
		g.lanes[cur.pool] = pj
		if g.cur != nil && g.cur.pool == pj.pool && !p.split.running() {
			g.cur = pj // the split ended on this pool: new miners and the re-announce follow
		}
		g.mu.Unlock()
		return pj
	}
}

// groupWork is the work a group's miners are offered now: the group's latest job, or while
// the split runs, each member pool's latest job there.
func (p *Proxy) groupWork(g *group) []*proxyJob {
	var pools []*pool
	if p.split.running() {
		p.split.mu.Lock()
		for _, m := range p.split.members {
			pools = append(pools, m.pl)
		}
		p.split.mu.Unlock()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// Never superseded work: published again it would be valid, and the miners moved back to
	// a pool that left the split or was replaced.
	if len(pools) == 0 {
		if g.cur == nil || g.cur.stale() {
			return nil
		}
		return []*proxyJob{g.cur}
	}
	var out []*proxyJob
	for _, pl := range pools {
		if pj := g.lanes[pl]; pj != nil && !pj.stale() {
			out = append(out, pj)
		}
	}
	return out
}

func (p *Proxy) groupList() []*group {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*group(nil), p.groups...)
}

// diffSum is a float64 sum safe for concurrent adds.
type diffSum struct{ bits atomic.Uint64 }

func (d *diffSum) add(v float64) {
	for {
		old := d.bits.Load()
		if d.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (d *diffSum) load() float64 { return math.Float64frombits(d.bits.Load()) }
