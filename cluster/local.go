package cluster

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// The Node is the power.Controller's feed while clustered: the Controller reports its
// inventory, telemetry and meter readings here instead of to a Runner of its own.

// UpsertMiner records one of this instance's miners for the next inventory message (and the
// isolation Runner, while isolated). The command carried out here last is what the view
// says it was commanded.
func (n *Node) UpsertMiner(m policy.Miner) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.commanded[m.ID]; ok {
		m.Commanded = c
	}
	n.views[m.ID] = m
	n.dirty[m.ID] = true
	delete(n.removed, m.ID)
	if n.iso != nil {
		n.iso.r.UpsertMiner(m)
	}
}

// RemoveMiner records that one of this instance's miners left. Its command is forgotten with
// it: the Controller reports what it last applied when the miner comes back, and a node must
// not remember every miner that ever connected.
func (n *Node) RemoveMiner(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.views, id)
	delete(n.commanded, id)
	delete(n.dirty, id)
	n.removed[id] = true
	if n.iso != nil {
		n.iso.r.RemoveMiner(id)
	}
}

// ObservePower records a miner's measured draw for the next telemetry batch.
func (n *Node) ObservePower(id string, kw float64, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !kwOK(kw) {
		return
	}
	n.power[id] = PowerSample{ID: id, KW: kw, At: at}
	if n.iso != nil {
		n.iso.r.ObservePower(id, kw, at)
	}
}

// Observe publishes a meter reading this instance took. The isolation Runner never gets
// one: without a site reading its engine holds the miners at the safe floor.
func (n *Node) Observe(r policy.Reading) {
	if !r.Role.Valid() || r.At.IsZero() {
		return
	}
	b, err := encode(&Readings{Instance: n.inst, Readings: []MeterReading{ReadingOf(r)}})
	if err != nil {
		n.log.Warn().Err(err).Msg("meter reading not published")
		return
	}
	n.publish(n.subject("meter", n.inst), b)
}

// flushEvery is how often inventory deltas and telemetry go out.
const flushEvery = 200 * time.Millisecond

// publishLoop sends inventory deltas and telemetry every flushEvery and a full snapshot
// every lease_ttl (and at once after a reconnect or a return from isolation).
func (n *Node) publishLoop(ctx context.Context) {
	t := n.clk.NewTicker(min(flushEvery, n.cfg.LeaseTTL.D()/3))
	defer t.Stop()
	var lastFull time.Time
	for {
		now := n.clk.Now()
		n.mu.Lock()
		full := n.forceFull || now.Sub(lastFull) >= n.cfg.LeaseTTL.D()
		n.forceFull = false
		n.mu.Unlock()
		if full {
			lastFull = now
		}
		n.flush(full)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// flush publishes what changed (or everything, full) and the telemetry batch.
func (n *Node) flush(full bool) {
	var msgs []*Inventory
	n.mu.Lock()
	head := Inventory{Instance: n.inst, Boot: n.boot, Gen: n.gen, Lost: n.lost}
	if full {
		n.snap++
		ids := make([]string, 0, len(n.views))
		for id := range n.views {
			ids = append(ids, id)
		}
		parts := max(1, (len(ids)+MaxMinersPerMessage-1)/MaxMinersPerMessage)
		for p := range parts {
			m := head
			m.Full, m.Snap, m.Part, m.Parts = true, n.snap, p, parts
			for _, id := range ids[p*MaxMinersPerMessage : min(len(ids), (p+1)*MaxMinersPerMessage)] {
				m.Miners = append(m.Miners, ViewOf(n.views[id]))
			}
			msgs = append(msgs, &m)
		}
		clear(n.dirty)
		clear(n.removed)
	} else if len(n.dirty)+len(n.removed) > 0 {
		m := head
		for id := range n.dirty {
			if len(m.Miners)+len(m.Removed) == MaxMinersPerMessage {
				msgs = append(msgs, &m)
				m = head
			}
			m.Miners = append(m.Miners, ViewOf(n.views[id]))
		}
		for id := range n.removed {
			if len(m.Miners)+len(m.Removed) == MaxMinersPerMessage {
				msgs = append(msgs, &m)
				m = head
			}
			m.Removed = append(m.Removed, id)
		}
		msgs = append(msgs, &m)
		clear(n.dirty)
		clear(n.removed)
	}
	for _, m := range msgs {
		n.seq++
		m.Seq = n.seq
	}
	var tel []*Telemetry
	if len(n.power) > 0 {
		t := &Telemetry{Instance: n.inst}
		for _, s := range n.power {
			if len(t.Power) == MaxMinersPerMessage {
				tel = append(tel, t)
				t = &Telemetry{Instance: n.inst}
			}
			t.Power = append(t.Power, s)
		}
		tel = append(tel, t)
		clear(n.power)
	}
	n.mu.Unlock()
	for _, m := range msgs {
		n.send(n.subject("inv", n.inst), m)
	}
	for _, t := range tel {
		n.send(n.subject("power", n.inst), t)
	}
}

func (n *Node) send(subj string, m Message) {
	b, err := encode(m)
	if err != nil {
		n.log.Warn().Err(err).Str("subject", subj).Msg("message not published")
		return
	}
	n.publish(subj, b)
}

// admit applies the fencing rule to an order, plan or heartbeat of epoch from leader: below
// the highest epoch seen, or at or below the epoch given up when isolated (or while the
// isolation starts), it is refused. An epoch above the highest is obeyed only once the lease
// shows leader holding it. A newer epoch ends isolation first and stops the older epochs'
// running orders: the local Runner and the old orders have returned before the leader's
// orders are carried out.
func (n *Node) admit(epoch uint64, leader string) error {
	n.mu.Lock()
	if n.staleLocked(epoch) {
		n.mu.Unlock()
		return ErrStaleEpoch
	}
	newer, isolated := epoch > n.highest, n.iso != nil
	n.mu.Unlock()
	if newer {
		if ok, read := n.proven(leader, epoch); !ok {
			if read {
				n.log.Warn().Uint64("epoch", epoch).Str("leader", leader).Msg("epoch not held by its leader in the lease: refused")
			}
			return ErrUnprovenEpoch
		}
	}
	if isolated {
		n.rejoin(epoch)
	}
	n.mu.Lock()
	if n.staleLocked(epoch) {
		n.mu.Unlock()
		return ErrStaleEpoch // a newer epoch or an isolation came in between
	}
	raised := epoch > n.highest
	var drained chan struct{}
	if raised {
		n.log.Info().Uint64("epoch", epoch).Str("leader", leader).Msg("following a new epoch")
		drained = n.fence.raise()
	} else {
		drained = n.fence.barrier()
	}
	n.highest, n.leader, n.contact = epoch, leader, n.clk.Now()
	n.mu.Unlock()
	if !raised {
		if drained != nil {
			<-drained // the older epoch's orders return before this one's run (cluster/doc.go)
		}
		return nil
	}
	if k := n.fence.cancelBelow(epoch); k > 0 {
		n.log.Info().Uint64("epoch", epoch).Int("orders", k).Msg("orders of an older epoch stopped")
	}
	n.rollbackPlans(epoch, n.clk.Now())
	close(drained)
	return nil
}

// staleLocked reports whether a leader's message of epoch must be refused: below the highest
// epoch, at or below the one given up, or while isolation starts. n.mu held.
func (n *Node) staleLocked(epoch uint64) bool {
	return epoch < n.highest || n.lost != 0 && (epoch <= n.lost || n.iso == nil)
}

func (n *Node) onHeartbeat(msg *nats.Msg) {
	hb, err := DecodeHeartbeat(msg.Data)
	if err != nil {
		n.bad(msg, err)
		return
	}
	if hb.Leader == n.inst {
		return // our own: the lease is our contact
	}
	if err := n.admit(hb.Epoch, hb.Leader); err != nil {
		n.counters.refused.Add(1)
	}
}

// bad counts and logs a message a peer got wrong; it never stops the Node.
func (n *Node) bad(msg *nats.Msg, err error) {
	n.counters.bad.Add(1)
	n.log.Warn().Err(err).Str("subject", msg.Subject).Int("bytes", len(msg.Data)).Msg("message refused")
}

func (n *Node) onPlan(msg *nats.Msg) {
	p, err := DecodePlan(msg.Data)
	if err != nil {
		n.bad(msg, err)
		return
	}
	if err := n.admit(p.Epoch, p.Leader); err != nil {
		n.counters.refused.Add(1)
		return
	}
	ds := make([]policy.Decision, 0, len(p.Decisions))
	ids := make([]string, 0, len(p.Decisions))
	n.mu.Lock()
	for _, d := range p.Decisions {
		if _, ok := n.views[d.MinerID]; ok {
			ds = append(ds, d.Decision())
			ids = append(ids, d.MinerID)
		}
	}
	n.mu.Unlock()
	if len(ds) > 0 {
		n.fence.planned(ids, p.Epoch, n.clk.Now()) // rolled back if no order follows (fence.go)
		n.local.Plan(ds)
	}
}

// onOrder carries out one order from the leader and answers it. Orders run concurrently (the
// leader's Runner sends up to max_parallel at once), at most maxOrders at a time.
func (n *Node) onOrder(msg *nats.Msg) {
	o, err := DecodeOrder(msg.Data)
	if err != nil {
		n.bad(msg, err)
		n.reply(msg, err)
		return
	}
	if err := n.admit(o.Epoch, o.Leader); err != nil {
		n.counters.refused.Add(1)
		n.log.Info().Uint64("epoch", o.Epoch).Str("leader", o.Leader).Str("miner", o.Decision.MinerID).Msg("order from a stale epoch refused")
		n.reply(msg, err)
		return
	}
	n.mu.Lock()
	_, owned := n.views[o.Decision.MinerID]
	n.mu.Unlock()
	if !owned {
		n.counters.refused.Add(1)
		n.reply(msg, ErrNotOwner)
		return
	}
	select {
	case n.orders <- struct{}{}:
	default:
		n.counters.busy.Add(1)
		n.reply(msg, ErrBusy)
		return
	}
	ctx, cancel, ro, ok := n.startOrders(o.Epoch, o.TimeoutMS)
	if !ok {
		<-n.orders
		n.counters.refused.Add(1)
		n.reply(msg, ErrStaleEpoch)
		return
	}
	go func() {
		defer func() { <-n.orders }()
		defer n.fence.finish(ro)
		defer cancel()
		d := o.Decision.Decision()
		// The step's Plan travels on another subscription and may arrive after its order: a
		// run carried out while the Controller still wants the miner paused would leave its
		// gate closed for good. The order is the latest word for its miner, so it plans too.
		n.local.Plan([]policy.Decision{d})
		err := n.carryOut(ctx, d, o.Epoch, o.Leader)
		n.reply(msg, err)
	}()
}

// carryOut applies d to a local miner and records the command for the inventory. epoch and
// leader say whose order it is (0 and "": the isolation Runner's); the log line is the
// owner's record of who commanded each miner.
func (n *Node) carryOut(ctx context.Context, d policy.Decision, epoch uint64, leader string) (err error) {
	n.log.Debug().Str("miner", d.MinerID).Stringer("action", d.Action).Float64("target_kw", d.TargetKW).
		Uint64("epoch", epoch).Str("leader", leader).Msg("carrying out")
	defer func() {
		if p := recover(); p != nil {
			err = errors.New("cluster: apply panicked")
		}
		if err != nil {
			n.counters.failed.Add(1)
		} else {
			n.counters.applied.Add(1)
		}
	}()
	// The order (or the floor's step, epoch 0) planned the miner's gate: a gate it leaves
	// unsettled (failed, cancelled, stale, or the floor stopped) is rolled back when no later
	// order settles it.
	settled := false
	seq := n.fence.ordering(d.MinerID, epoch, n.clk.Now())
	defer func() { n.fence.ordered(d.MinerID, seq, settled, n.clk.Now()) }()
	n.recordOrder(d, leader, false)
	if err := n.local.Apply(ctx, d); err != nil {
		return err
	}
	now := n.clk.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if epoch != 0 && n.staleLocked(epoch) {
		// Its epoch ended while the firmware worked: the floor or the newer leader's
		// orders own the miner now, and the view must not say otherwise.
		return ErrStaleEpoch
	}
	n.recordOrder(d, leader, true)
	prev, ok := n.commanded[d.MinerID]
	since := now
	if ok && prev.Action == d.Action {
		since = prev.Since
	}
	c := policy.Command{Action: d.Action, TargetKW: d.TargetKW, Since: since}
	settled = true
	if m, ok := n.views[d.MinerID]; ok {
		n.commanded[d.MinerID] = c // kept while the miner is here: RemoveMiner forgets it
		m.Commanded = c
		n.views[d.MinerID] = m
		n.dirty[d.MinerID] = true
	}
	return nil
}

func (n *Node) reply(msg *nats.Msg, err error) {
	if msg.Reply == "" {
		return
	}
	n.mu.Lock()
	r := Reply{Epoch: n.highest}
	n.mu.Unlock()
	if err != nil {
		r.Err = err.Error()
		if len(r.Err) > 4096 {
			r.Err = r.Err[:4096]
		}
	}
	b, _ := encode(&r)
	if err := msg.Respond(b); err != nil {
		n.counters.pubErr.Add(1)
	}
}

// isolate gives up the current epoch and holds this instance's own miners at safe_floor_kw
// with a Runner over them alone and no site meter: the engine's own safe floor.
func (n *Node) isolate() {
	n.isoMu.Lock()
	defer n.isoMu.Unlock()
	n.stopSite()
	cfg := n.pcfg
	cfg.SafeFloorKW = n.cfg.SafeFloorKW
	n.mu.Lock()
	if n.iso != nil || n.clk.Now().Sub(n.contact) <= n.cfg.StaleAfter.D() {
		n.mu.Unlock()
		return
	}
	// From here every leader order is stale; those still running stop before the floor.
	n.lost = max(n.highest, 1)
	n.mu.Unlock()
	if k := n.fence.cancelBelow(math.MaxUint64); k > 0 {
		n.log.Info().Int("orders", k).Msg("orders of the given-up epoch stopped")
	}
	// The floor Runner starts from the gates as the commands carried out left them.
	n.rollbackPlans(math.MaxUint64, n.clk.Now())
	t, err := n.startTerm(localActuator{n}, cfg, 0, n.record) // its decisions are this instance's record
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.lost = 0
		n.log.Error().Err(err).Msg("isolation runner not started")
		return
	}
	n.iso = t
	for _, m := range n.views {
		t.r.UpsertMiner(m)
	}
	n.applyControlsLocked() // the site's controls as last seen: paused groups stay paused on the floor
	n.log.Warn().Uint64("lost_epoch", n.lost).Float64("safe_floor_kw", cfg.SafeFloorKW).Dur("silent", n.clk.Now().Sub(n.contact)).
		Msg("no leader heard: isolated, own miners held at the safe floor")
}

// rejoin stops the isolation Runner for a leader at epoch (newer than the one given up),
// then lets its orders in; the next inventory carries a new Gen and every command carried
// out while isolated.
func (n *Node) rejoin(epoch uint64) {
	n.isoMu.Lock()
	defer n.isoMu.Unlock()
	n.mu.Lock()
	if n.iso == nil || epoch <= n.lost {
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.stopIso()
	// The floor's gates whose command it did not carry out (the firmware slow or refusing,
	// the pause in its back-off or queued behind max_parallel) go back to the commands
	// carried out, which the next inventory reports: no leader would ever reopen them.
	n.rollbackPlans(math.MaxUint64, n.clk.Now())
	n.mu.Lock()
	n.lost = 0
	n.gen++
	n.forceFull = true
	n.contact = n.clk.Now()
	n.mu.Unlock()
	n.log.Info().Uint64("epoch", epoch).Msg("leader heard again: isolation ended")
}

// stopIso ends the isolation Runner; n.isoMu held.
func (n *Node) stopIso() {
	n.mu.Lock()
	t := n.iso
	n.mu.Unlock()
	if t == nil {
		return
	}
	t.stop()
	n.mu.Lock()
	n.iso = nil
	n.mu.Unlock()
}

// localActuator carries the isolation Runner's decisions out on this instance's miners.
type localActuator struct{ n *Node }

// Plan closes the step's gates at once and records them with the fence as a leader's plan
// is: a gate the floor leaves without its command carried out is rolled back like one.
func (a localActuator) Plan(ds []policy.Decision) {
	ids := make([]string, len(ds))
	for i := range ds {
		ids[i] = ds[i].MinerID
	}
	a.n.fence.planned(ids, 0, a.n.clk.Now())
	a.n.local.Plan(ds)
}

func (a localActuator) Apply(ctx context.Context, d policy.Decision) error {
	return a.n.carryOut(ctx, d, 0, "")
}

// startOrders bounds the time of an order or a batch admitted at epoch, whatever the leader
// asked for (it outlives no lease: it ends before this instance could isolate over it), and
// registers it with the fence so a newer epoch cancels it. ok is false, with nothing left
// registered, when a newer epoch or an isolation came after admit.
func (n *Node) startOrders(epoch uint64, timeoutMS int64) (context.Context, context.CancelFunc, *runningOrder, bool) {
	timeout := min(time.Duration(timeoutMS)*time.Millisecond, n.cfg.OrderTime())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	ro := n.fence.start(epoch, cancel)
	n.mu.Lock()
	stale := n.staleLocked(epoch)
	n.mu.Unlock()
	if stale {
		n.fence.finish(ro)
		cancel()
		return nil, nil, nil, false
	}
	return ctx, cancel, ro, true
}
