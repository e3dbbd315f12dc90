package cluster

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// peer is one instance's inventory as this node follows it.
type peer struct {
	boot     int64
	seq      uint64
	gen      uint64
	lost     uint64
	miners   map[string]policy.Miner
	lastSeen time.Time
	stale    bool
	// The full snapshot being assembled, and the one whose miners are taken as commanded by
	// their owner (after a change of Gen).
	snap       uint64
	snapIDs    map[string]bool
	snapParts  map[int]bool
	resyncSnap uint64
}

// onInventory follows one instance's inventory and, while this node leads, keeps the site
// Runner's fleet equal to it.
func (n *Node) onInventory(msg *nats.Msg) {
	inv, err := DecodeInventory(msg.Data)
	if err != nil {
		n.bad(msg, err)
		return
	}
	if !n.fromSubject(msg, "inv", inv.Instance) {
		return
	}
	if inv.Instance == n.inst && inv.Boot != n.boot {
		// Another process uses this instance's name: its miners must not be taken for ours.
		n.bad(msg, badf("inventory: instance %q is this one's name, from another run (boot %d)", inv.Instance, inv.Boot))
		return
	}
	now := n.clk.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[inv.Instance]
	if p == nil {
		if len(n.peers) >= maxPeers {
			n.counters.bad.Add(1)
			n.log.Warn().Str("instance", inv.Instance).Int("instances", len(n.peers)).Msg("inventory of one instance too many refused")
			return
		}
		p = &peer{miners: map[string]policy.Miner{}, gen: inv.Gen}
		n.peers[inv.Instance] = p
	}
	switch {
	case inv.Boot != p.boot:
		p.boot, p.seq = inv.Boot, 0
	case inv.Seq <= p.seq:
		return // old or repeated
	case inv.Seq != p.seq+1:
		n.counters.gaps.Add(1) // a lost delta: the next snapshot repairs it
	}
	p.seq, p.lastSeen, p.lost = inv.Seq, now, inv.Lost
	var r *policy.Runner
	if n.site != nil {
		r = n.site.r
	}
	if p.stale {
		// Back after stale_after: its miners come back to the site's policy as it reports them.
		p.stale = false
		if r != nil {
			for _, m := range p.miners {
				r.RemoveMiner(m.ID)
				r.UpsertMiner(m)
			}
		}
	}
	if inv.Gen != p.gen && inv.Full {
		p.gen, p.resyncSnap = inv.Gen, inv.Snap
	}
	resync := inv.Full && inv.Snap == p.resyncSnap
	if inv.Full && inv.Snap != p.snap {
		p.snap, p.snapIDs, p.snapParts = inv.Snap, map[string]bool{}, map[int]bool{}
	}
	full := 0
	for _, v := range inv.Miners {
		m := v.Miner()
		o, ok := n.owner[m.ID]
		if !ok && len(n.owner) >= maxSiteMiners {
			full++
			continue
		}
		if ok && o != inv.Instance {
			n.log.Warn().Str("miner", m.ID).Str("owner", o).Str("instance", inv.Instance).Msg("miner reported by a second instance: the latest report owns it")
			if q := n.peers[o]; q != nil {
				delete(q.miners, m.ID)
			}
		}
		n.owner[m.ID] = inv.Instance
		p.miners[m.ID] = m
		if inv.Full {
			p.snapIDs[m.ID] = true
		}
		if r != nil {
			if resync {
				r.RemoveMiner(m.ID) // the owner's commanded state, not the one this Runner assumed
			}
			r.UpsertMiner(m)
		}
	}
	if full > 0 {
		n.counters.bad.Add(1)
		n.log.Warn().Str("instance", inv.Instance).Int("miners", full).Int("limit", maxSiteMiners).Msg("miners beyond the site's limit left out")
	}
	for _, id := range inv.Removed {
		n.forgetLocked(p, inv.Instance, id, r)
	}
	if inv.Full {
		p.snapParts[inv.Part] = true
		if len(p.snapParts) == inv.Parts {
			for id := range p.miners {
				if !p.snapIDs[id] {
					n.forgetLocked(p, inv.Instance, id, r)
				}
			}
		}
	}
	if n.site != nil && inv.Lost != 0 && inv.Lost >= n.site.epoch && n.askedNew < n.site.epoch {
		// It gave up this epoch: a new term lets it follow again.
		n.askedNew = n.site.epoch
		if l := n.lease.Load(); l != nil {
			l.NewTerm()
		}
		n.log.Info().Str("instance", inv.Instance).Uint64("epoch", inv.Lost).Msg("an instance gave up this epoch: starting a new term")
	}
}

func (n *Node) forgetLocked(p *peer, inst, id string, r *policy.Runner) {
	if _, ok := p.miners[id]; !ok {
		return
	}
	delete(p.miners, id)
	if n.owner[id] == inst {
		delete(n.owner, id)
	}
	if r != nil {
		r.RemoveMiner(id)
	}
}

// Bounds on what peers can make a node remember: instances, and miners across the site.
const (
	maxPeers      = 1024
	maxSiteMiners = 1 << 20
	// forgetAfter stale_afters of silence, an instance is forgotten altogether.
	forgetAfter = 6
)

// fromSubject reports whether a message's instance is the one its subject names
// (hashgate.<site>.<kind>.<instance>); one claiming another instance is refused, counted and
// logged, so no publisher takes another instance's miners or speaks for it.
func (n *Node) fromSubject(msg *nats.Msg, kind, inst string) bool {
	if msg.Subject == n.subject(kind, inst) {
		return true
	}
	n.bad(msg, badf("%s: instance %q on another instance's subject", kind, inst))
	return false
}

// markStaleLocked takes instances silent for stale_after out of the site's policy: they hold
// their own floor, and the site meter sees whatever they draw as other load. Instances
// silent for forgetAfter stale_afters are forgotten. n.mu held.
func (n *Node) markStaleLocked(now time.Time) {
	for inst, p := range n.peers {
		if now.Sub(p.lastSeen) > forgetAfter*n.cfg.StaleAfter.D() {
			var r *policy.Runner
			if !p.stale && n.site != nil {
				r = n.site.r
			}
			for id := range p.miners {
				n.forgetLocked(p, inst, id, r)
			}
			delete(n.peers, inst)
			continue
		}
		if p.stale || now.Sub(p.lastSeen) <= n.cfg.StaleAfter.D() {
			continue
		}
		p.stale = true
		if n.site != nil {
			for id := range p.miners {
				n.site.r.RemoveMiner(id)
			}
		}
	}
}

func (n *Node) onTelemetry(msg *nats.Msg) {
	t, err := DecodeTelemetry(msg.Data)
	if err != nil {
		n.bad(msg, err)
		return
	}
	if !n.fromSubject(msg, "power", t.Instance) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.site == nil {
		return
	}
	for _, s := range t.Power {
		if n.owner[s.ID] == t.Instance {
			n.site.r.ObservePower(s.ID, s.KW, s.At)
		}
	}
}

func (n *Node) onReadings(msg *nats.Msg) {
	rs, err := DecodeReadings(msg.Data)
	if err != nil {
		n.bad(msg, err)
		return
	}
	if !n.fromSubject(msg, "meter", rs.Instance) {
		return
	}
	now := n.clk.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, mr := range rs.Readings {
		rd := mr.Reading()
		if rd.At.After(now) {
			rd.At = now // a clock ahead of ours must not lock the role out
		}
		if cur, ok := n.readings[rd.Role]; ok && !rd.At.After(cur.At) {
			continue
		}
		n.readings[rd.Role] = rd
		if n.site != nil {
			n.site.r.Observe(rd)
		}
	}
}

// lead is called while this node holds the lease at epoch: it starts the site Runner for
// the epoch (a new term stops the previous one first).
func (n *Node) lead(epoch uint64, now time.Time) {
	n.mu.Lock()
	isolated, highest := n.iso != nil, n.highest
	n.mu.Unlock()
	if epoch < highest {
		// A lease below an epoch already obeyed (a lease bucket recreated with a clock behind):
		// every owner would refuse its orders. Leading would only keep this instance from
		// isolating, so it does not lead, and isolates after stale_after like any follower.
		n.stopSite()
		if n.fence.refuseLead(epoch) {
			n.log.Error().Uint64("epoch", epoch).Uint64("highest", highest).Msg("lease epoch below one already obeyed: not leading")
		}
		return
	}
	if isolated {
		n.rejoin(epoch)
	}
	n.mu.Lock()
	raised := epoch > n.highest
	n.highest, n.leader, n.contact = max(n.highest, epoch), n.inst, now
	cur := n.site
	n.mu.Unlock()
	if raised {
		n.fence.cancelBelow(epoch) // a former leader's orders still running here
		// Its plans left without their orders are rolled back now, as a follower admitting
		// a newer epoch does: this term decides from the gates the carried-out commands left.
		n.rollbackPlans(epoch, now)
	}
	if cur != nil && cur.epoch == epoch {
		return
	}
	n.stopSite()
	n.readControls()
	t, err := n.startTerm(&siteActuator{n: n, epoch: epoch}, n.pcfg, epoch, n.audit)
	if err != nil {
		n.log.Error().Err(err).Msg("site runner not started")
		return
	}
	n.mu.Lock()
	n.site = t
	miners := 0
	for _, p := range n.peers {
		if p.stale {
			continue
		}
		for _, m := range p.miners {
			t.r.UpsertMiner(m)
			miners++
		}
	}
	for _, rd := range n.readings {
		t.r.Observe(rd)
	}
	n.applyControlsLocked()
	instances := len(n.peers) // under n.mu: inventories add peers from NATS's goroutines
	n.mu.Unlock()
	n.log.Info().Uint64("epoch", epoch).Int("miners", miners).Int("instances", instances).Msg("site policy running")
}

// stopSite ends the site Runner (its term ended) and waits for its in-flight orders.
func (n *Node) stopSite() {
	n.mu.Lock()
	t := n.site
	n.site = nil
	n.mu.Unlock()
	if t != nil {
		t.stop()
		n.log.Info().Uint64("epoch", t.epoch).Msg("site policy stopped")
	}
}

// siteActuator routes the site Runner's decisions to the instances owning the miners, as
// orders carrying the term's epoch; an order is only sent while the lease is valid at that
// epoch. An unanswered order is a failed apply, which the Runner decides again.
type siteActuator struct {
	n     *Node
	epoch uint64
	out   outbox // orders gathered into batches per owner (outbox.go)
}

func (a *siteActuator) valid() bool {
	l := a.n.lease.Load()
	if l == nil {
		return false
	}
	e, ok := l.Held(a.n.clk.Now())
	return ok && e == a.epoch
}

// Plan sends each owner its share of the step's decisions.
func (a *siteActuator) Plan(ds []policy.Decision) {
	if !a.valid() {
		return
	}
	by := map[string][]Decided{}
	a.n.mu.Lock()
	for _, d := range ds {
		if o, ok := a.n.owner[d.MinerID]; ok {
			by[o] = append(by[o], DecidedOf(d))
		}
	}
	a.n.mu.Unlock()
	a.expect(by)
	for o, list := range by {
		for len(list) > 0 {
			k := min(len(list), MaxMinersPerMessage)
			a.n.send(a.n.subject("plan", o), &Plan{Epoch: a.epoch, Leader: a.n.inst, Decisions: list[:k]})
			list = list[k:]
		}
	}
}

// OrderError is an owner's refusal or failure to carry out an order.
type OrderError struct{ Owner, Msg string }

func (e *OrderError) Error() string { return "cluster: " + e.Owner + ": " + e.Msg }
