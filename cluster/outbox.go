package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// The site Runner calls Apply once per decision, up to max_parallel at once. A step that
// sheds thousands of miners would be thousands of requests, so the siteActuator gathers the
// calls per owning instance into Batches: the first order queued for an owner waits at most
// batchLinger for the rest of its step, and the queue goes at once when it holds every
// decision the step's Plan named for that owner, or MaxOrdersPerBatch. A lone order goes
// as an Order.

// batchLinger bounds how long a queued order waits for the rest of its step, on the Node's
// clock. The Runner starts a step's calls together, so its orders queue within a few
// milliseconds; those held back by max_parallel or a back-off come in a trickle as earlier
// ones are answered.
const batchLinger = 10 * time.Millisecond

// outbox is a term's orders waiting to be sent, by owning instance.
type outbox struct {
	mu     sync.Mutex
	owners map[string]*ownerBox
	// expect holds, by owner, the miners of the last step's Plan whose Apply has not come yet.
	expect map[string]map[string]bool
}

type ownerBox struct {
	waiting []*queued
	timer   clock.Timer // the linger of the first waiting order
}

// queued is one Apply waiting for its order's result.
type queued struct {
	d        Decided
	deadline time.Time
	done     chan error // buffered: the sender never blocks on a caller gone
	gone     atomic.Bool
}

// expect records the step's decisions by owner (from Plan), so a full step goes at once.
func (a *siteActuator) expect(by map[string][]Decided) {
	e := make(map[string]map[string]bool, len(by))
	for o, list := range by {
		m := make(map[string]bool, len(list))
		for _, d := range list {
			m[d.MinerID] = true
		}
		e[o] = m
	}
	a.out.mu.Lock()
	a.out.expect = e
	a.out.mu.Unlock()
}

// Apply queues d for its owner and waits for its result (ctx carries apply_timeout). An
// unanswered order, or one whose batch was refused, is a failed apply: the Runner decides it
// again.
func (a *siteActuator) Apply(ctx context.Context, d policy.Decision) error {
	if !a.valid() {
		return ErrNotLeader
	}
	a.n.mu.Lock()
	o, ok := a.n.owner[d.MinerID]
	a.n.mu.Unlock()
	if !ok {
		return ErrNotOwner
	}
	w := DecidedOf(d)
	if err := w.validate(); err != nil {
		return err // refused alone, before it could spoil a batch
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(a.n.pcfg.ApplyTimeout.D())
	}
	q := &queued{d: w, deadline: deadline, done: make(chan error, 1)}
	a.queue(o, q)
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		q.gone.Store(true) // not sent if still waiting: the Runner decides it again
		return ctx.Err()
	}
}

func (a *siteActuator) queue(owner string, q *queued) {
	ob := &a.out
	ob.mu.Lock()
	if ob.owners == nil {
		ob.owners = map[string]*ownerBox{}
	}
	box := ob.owners[owner]
	if box == nil {
		box = &ownerBox{}
		ob.owners[owner] = box
	}
	box.waiting = append(box.waiting, q)
	completed := false
	if exp := ob.expect[owner]; exp[q.d.MinerID] {
		delete(exp, q.d.MinerID)
		completed = len(exp) == 0
	}
	var batches [][]*queued
	if completed || len(box.waiting) >= MaxOrdersPerBatch {
		batches = box.takeLocked()
	} else if box.timer == nil {
		box.timer = a.n.clk.AfterFunc(batchLinger, func() { a.flush(owner) })
	}
	ob.mu.Unlock()
	for _, b := range batches {
		go a.send(owner, b)
	}
}

// takeLocked empties the box into batches of at most MaxOrdersPerBatch. a.out.mu held.
func (b *ownerBox) takeLocked() [][]*queued {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	var out [][]*queued
	for len(b.waiting) > 0 {
		k := min(len(b.waiting), MaxOrdersPerBatch)
		out = append(out, b.waiting[:k:k])
		b.waiting = b.waiting[k:]
	}
	b.waiting = nil
	return out
}

// flush sends what waits for owner (its linger ran out).
func (a *siteActuator) flush(owner string) {
	a.out.mu.Lock()
	var batches [][]*queued
	if box := a.out.owners[owner]; box != nil {
		box.timer = nil // fired
		batches = box.takeLocked()
	}
	a.out.mu.Unlock()
	for _, b := range batches {
		go a.send(owner, b)
	}
}

// replyMargin is the part of a leader's remaining wait (wait) kept for the owner's answer to
// travel back: the owner is given the rest to answer in, counted from when the order reaches
// it, which is after the leader's count began. Its answer, on time or saying which orders
// are still running, therefore leaves at least the margin before the leader stops waiting,
// whatever the two bounds are; the margin only has to cover the reply's way back.
func replyMargin(wait time.Duration) time.Duration { return min(wait/4, time.Second) }

// send orders qs from owner, as one Order or one Batch, and hands each caller its result.
// The batch's time bound is the earliest caller's deadline: no order runs at the owner after
// its caller stopped waiting for it (the Runner may already have decided it again). The owner
// is told to answer replyMargin before it, so one firmware that never answers costs its own
// order only, not the confirmed results of the rest of its batch.
func (a *siteActuator) send(owner string, qs []*queued) {
	live := make([]*queued, 0, len(qs))
	for _, q := range qs {
		if !q.gone.Load() {
			live = append(live, q)
		}
	}
	if len(live) == 0 {
		return
	}
	if !a.valid() {
		settle(live, ErrNotLeader)
		return
	}
	deadline := live[0].deadline
	for _, q := range live[1:] {
		if q.deadline.Before(deadline) {
			deadline = q.deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	wait := time.Until(deadline)
	timeoutMS := max(1, min((wait-replyMargin(wait)).Milliseconds(), maxOrderTimeout))
	nc := a.n.nc.Load()
	if len(live) == 1 {
		live[0].done <- a.sendOrder(ctx, owner, live[0].d, timeoutMS)
		return
	}
	b := &Batch{Epoch: a.epoch, Leader: a.n.inst, Owner: owner, TimeoutMS: timeoutMS, Decisions: make([]Decided, len(live))}
	for i, q := range live {
		b.Decisions[i] = q.d
	}
	if err := b.Validate(); err != nil {
		settle(live, err)
		return
	}
	body, err := json.Marshal(b)
	if err != nil {
		settle(live, err)
		return
	}
	if limit := min(int64(MaxMessage), nc.MaxPayload()); int64(len(body)) > limit {
		// Long miner ids or groups, or a server with a smaller max_payload: two halves.
		h := len(live) / 2
		done := make(chan struct{})
		go func() { defer close(done); a.send(owner, live[:h]) }()
		a.send(owner, live[h:])
		<-done
		return
	}
	msg, err := nc.RequestWithContext(ctx, a.n.subject("batch", owner), body)
	if err != nil {
		settle(live, err)
		return
	}
	rep, err := DecodeBatchReply(msg.Data)
	switch {
	case err != nil:
		a.n.log.Warn().Err(err).Str("owner", owner).Msg("batch reply refused")
		settle(live, err)
		return
	case rep.Err != "":
		settle(live, &OrderError{Owner: owner, Msg: rep.Err})
		return
	case len(rep.Results) != len(live):
		err := badf("batch reply: %d results for %d orders", len(rep.Results), len(live))
		a.n.log.Warn().Err(err).Str("owner", owner).Msg("batch reply refused")
		settle(live, err)
		return
	}
	for i, q := range live {
		r := rep.Results[i]
		switch {
		case r.MinerID != q.d.MinerID:
			q.done <- badf("batch reply: result %d for miner %q, ordered %q", i, r.MinerID, q.d.MinerID)
		case r.Err != "":
			q.done <- &OrderError{Owner: owner, Msg: r.Err}
		default:
			q.done <- nil
		}
	}
}

// sendOrder is the lone order's request.
func (a *siteActuator) sendOrder(ctx context.Context, owner string, d Decided, timeoutMS int64) error {
	b, err := encode(&Order{Epoch: a.epoch, Leader: a.n.inst, TimeoutMS: timeoutMS, Decision: d})
	if err != nil {
		return err
	}
	msg, err := a.n.nc.Load().RequestWithContext(ctx, a.n.subject("cmd", owner), b)
	if err != nil {
		return err
	}
	rep, err := DecodeReply(msg.Data)
	if err != nil {
		return err
	}
	if rep.Err != "" {
		return &OrderError{Owner: owner, Msg: rep.Err}
	}
	return nil
}

func settle(qs []*queued, err error) {
	for _, q := range qs {
		q.done <- err
	}
}
