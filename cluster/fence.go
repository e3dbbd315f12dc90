package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// ErrUnprovenEpoch refuses a message announcing an epoch above the highest one seen when the
// lease bucket does not show its leader holding that epoch: publishing on the site's subjects
// is not enough to fence the real leader out.
var ErrUnprovenEpoch = errors.New("cluster: epoch not proven by the lease")

// fence is an owner's record of the orders it is carrying out, with the epoch each came
// under, and of the last lease read that proved a leader's epoch. A newer epoch or isolation
// cancels the older orders and waits for them: an order of an epoch given up must not
// complete after the floor was applied or a newer leader's orders began.
type fence struct {
	mu      sync.Mutex
	running map[*runningOrder]struct{}
	// The last lease read: the holder, its epoch, and when the key was read.
	provedLeader string
	provedEpoch  uint64
	lastRead     time.Time
	// refused is the last lease epoch this node refused to lead with.
	refused uint64
	// drained is closed once the orders below the highest admitted epoch have returned:
	// every message of that epoch waits for it, not only the one that raised it. Set under
	// Node.mu with the highest epoch.
	drained chan struct{}
	// plans are the gates a leader's plan or order (or the isolation Runner's step, epoch 0)
	// set on this instance's miners whose command was not carried out yet, by miner: one left
	// without its order (the leader died in between, the order failed or was cancelled, the
	// floor stopped) is rolled back to the command last carried out, so no gate stays closed
	// on a miner every leader takes as running.
	plans map[string]*pendingPlan
}

// pendingPlan is a gate set ahead of its command.
type pendingPlan struct {
	epoch   uint64
	at      time.Time // the latest plan or order for the miner
	seq     uint64    // counts plans and orders for the miner
	running int       // its orders being carried out
}

type runningOrder struct {
	epoch  uint64
	cancel context.CancelFunc
	done   chan struct{}
}

// start records an order of epoch being carried out; finish must follow.
func (f *fence) start(epoch uint64, cancel context.CancelFunc) *runningOrder {
	o := &runningOrder{epoch: epoch, cancel: cancel, done: make(chan struct{})}
	f.mu.Lock()
	if f.running == nil {
		f.running = map[*runningOrder]struct{}{}
	}
	f.running[o] = struct{}{}
	f.mu.Unlock()
	return o
}

func (f *fence) finish(o *runningOrder) {
	f.mu.Lock()
	delete(f.running, o)
	f.mu.Unlock()
	close(o.done)
}

// cancelBelow cancels the orders of an epoch below epoch and waits until they returned. It
// reports how many it stopped.
func (f *fence) cancelBelow(epoch uint64) int {
	var wait []*runningOrder
	f.mu.Lock()
	for o := range f.running {
		if o.epoch < epoch {
			o.cancel()
			wait = append(wait, o)
		}
	}
	f.mu.Unlock()
	for _, o := range wait {
		<-o.done
	}
	return len(wait)
}

// proven reports whether the lease shows leader holding exactly epoch: the term its value
// names, not any revision up to its latest renewal, which a forger could claim in the real
// leader's name. A claim the last read proves costs nothing; otherwise the key is read, at most once per lease_ttl/6
// whoever asks, so a flood of false claims costs the server little and the real leader's next
// heartbeat is proven by the same read. read tells whether this call read the key.
func (n *Node) proven(leader string, epoch uint64) (ok, read bool) {
	f := &n.fence
	now := n.clk.Now()
	f.mu.Lock()
	if f.provedLeader == leader && f.provedEpoch == epoch {
		f.mu.Unlock()
		return true, false
	}
	// No lease open yet (the subscriptions start before the campaign opens the bucket): no
	// read is spent, so the first claim after it opens is read at once.
	l := n.lease.Load()
	if l == nil {
		f.mu.Unlock()
		return false, false
	}
	if !f.lastRead.IsZero() && now.Sub(f.lastRead) < n.cfg.LeaseTTL.D()/6 && !now.Before(f.lastRead) {
		f.mu.Unlock()
		return false, false
	}
	f.lastRead = now
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL.D())
	holder, cur, err := l.Current(ctx)
	cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		n.log.Info().Err(err).Msg("lease not read to prove an epoch")
	} else if cur >= f.provedEpoch {
		f.provedLeader, f.provedEpoch = holder, cur
	}
	return f.provedLeader == leader && f.provedEpoch == epoch, true
}

// refuseLead records that the lease's epoch was refused; it reports whether this is the first
// refusal of that epoch (logged once, not every renewal).
func (f *fence) refuseLead(epoch uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.refused != epoch
	f.refused = epoch
	return first
}

// raise starts the barrier of a newly admitted epoch; the caller closes it once the older
// orders returned. Node.mu held.
func (f *fence) raise() chan struct{} {
	ch := make(chan struct{})
	f.mu.Lock()
	f.drained = ch
	f.mu.Unlock()
	return ch
}

// barrier is the highest admitted epoch's barrier (nil before any). Node.mu held.
func (f *fence) barrier() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drained
}

// planned records gates set by a leader's plan of epoch at now.
func (f *fence) planned(ids []string, epoch uint64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.pendingLocked(id, epoch, now)
	}
}

func (f *fence) pendingLocked(id string, epoch uint64, now time.Time) *pendingPlan {
	if f.plans == nil {
		f.plans = map[string]*pendingPlan{}
	}
	p := f.plans[id]
	if p == nil {
		p = &pendingPlan{}
		f.plans[id] = p
	}
	p.epoch, p.at = max(p.epoch, epoch), now
	p.seq++
	return p
}

// ordering records that a leader's order for id (which planned its gate too) is being
// carried out; ordered must follow with its seq.
func (f *fence) ordering(id string, epoch uint64, now time.Time) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pendingLocked(id, epoch, now)
	p.running++
	return p.seq
}

// ordered records the end of an order: carried out, it settles the gate unless a later plan
// came meanwhile; failed, the gate stays pending from now.
func (f *fence) ordered(id string, seq uint64, done bool, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.plans[id]
	if p == nil {
		return
	}
	p.running--
	switch {
	case done && p.seq == seq && p.running == 0:
		delete(f.plans, id)
	case !done:
		p.at = now
	}
}

// strandedPlans takes the pending gates no order is running for whose epoch is below below,
// or that stood for after or longer at now.
func (f *fence) strandedPlans(below uint64, now time.Time, after time.Duration) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, p := range f.plans {
		if p.running == 0 && (p.epoch < below || now.Sub(p.at) >= after) {
			ids = append(ids, id)
			delete(f.plans, id)
		}
	}
	return ids
}

// rollbackPlans puts the gates of plans older than epoch, or standing since stale_after, back
// to the command last carried out on their miners. Reopening a gate is safe for the site's
// power: the miner kept drawing what it was commanded to, only without work. A miner whose
// command is unknown keeps its gate: every leader decides such a miner again. The command
// carried out is also recorded as the miner's state (recordRollback): the abandoned decision
// stored before it must not be what a restart restores.
func (n *Node) rollbackPlans(below uint64, now time.Time) {
	ids := n.fence.strandedPlans(below, now, n.cfg.StaleAfter.D())
	if len(ids) == 0 {
		return
	}
	ds := make([]policy.Decision, 0, len(ids))
	n.mu.Lock()
	for _, id := range ids {
		m, ok := n.views[id]
		if !ok {
			continue // left: its gate goes with it
		}
		c := m.Commanded
		if own, ok := n.commanded[id]; ok {
			c = own
		}
		if c.Action == policy.ActionUnknown {
			continue
		}
		ds = append(ds, policy.Decision{MinerID: id, Group: m.Group, Action: c.Action, TargetKW: c.TargetKW, FromKW: c.TargetKW, Reason: policy.ReasonRestore})
	}
	n.mu.Unlock()
	if len(ds) == 0 {
		return
	}
	n.recordRollback(ds, now)
	if n.local == nil {
		return
	}
	n.local.Plan(ds)
	n.log.Info().Int("miners", len(ds)).Msg("plans left without their orders rolled back to the commands carried out")
}

// expirePlans rolls back the plans that stood stale_after without their orders: the leader
// that sent them is gone or has given up on them.
func (n *Node) expirePlans(now time.Time) { n.rollbackPlans(0, now) }
