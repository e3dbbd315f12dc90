package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// ErrQueueFull refuses a whole batch when the orders already queued at the owner and the
// batch's would pass maxQueuedOrders (policy: refuse the newest batch, keep what is queued).
// The leader's Runner decides the refused orders again after its back-off.
var ErrQueueFull = errors.New("cluster: order queue full")

// maxQueuedOrders bounds the orders of accepted batches not yet answered, waiting for one of
// the maxOrders slots or running: four full batches, more than one step sheds at 10,000
// miners per instance.
const maxQueuedOrders = 4 * MaxOrdersPerBatch

// onBatch carries out one batch of the leader's orders and answers it once every order
// returned, or when the batch's time bound (timeout_ms, stale_after - lease_ttl at most) ends,
// with the orders still running answered as such. The epoch is checked once for the whole
// batch; the orders then share the owner's maxOrders slots with single orders, waiting for a
// free one instead of being refused.
func (n *Node) onBatch(msg *nats.Msg) {
	b, err := DecodeBatch(msg.Data)
	if err != nil {
		n.bad(msg, err)
		n.replyBatch(msg, nil, err)
		return
	}
	if !n.fromSubject(msg, "batch", b.Owner) {
		n.replyBatch(msg, nil, badf("batch: for instance %q on %s", b.Owner, msg.Subject))
		return
	}
	if err := n.admit(b.Epoch, b.Leader); err != nil {
		n.counters.refused.Add(uint64(len(b.Decisions)))
		n.log.Info().Uint64("epoch", b.Epoch).Str("leader", b.Leader).Int("orders", len(b.Decisions)).Msg("batch from a stale epoch refused")
		n.replyBatch(msg, nil, err)
		return
	}
	k := int64(len(b.Decisions))
	if q := n.batchQueued.Add(k); q > maxQueuedOrders {
		n.batchQueued.Add(-k)
		n.counters.busy.Add(uint64(k))
		n.log.Warn().Int64("queued", q-k).Int64("orders", k).Int("limit", maxQueuedOrders).Msg("batch refused: order queue full")
		n.replyBatch(msg, nil, ErrQueueFull)
		return
	}
	ctx, cancel, ro, ok := n.startOrders(b.Epoch, b.TimeoutMS)
	if !ok {
		n.batchQueued.Add(-k)
		n.counters.refused.Add(uint64(k))
		n.replyBatch(msg, nil, ErrStaleEpoch)
		return
	}
	go func() {
		defer n.batchQueued.Add(-k)
		defer n.fence.finish(ro)
		defer cancel()
		res, wait := n.carryOutBatch(ctx, b)
		n.replyBatch(msg, res, nil)
		// The orders still running stay counted, in the queue and with the fence, until they
		// returned: a newer epoch waits for them as for any other.
		wait()
	}()
}

// ErrOrderLate answers an order of a batch whose firmware had not answered when the batch's
// time ended; its call was stopped then, and the leader's Runner decides the miner again.
var ErrOrderLate = errors.New("cluster: no answer from the firmware within the batch's time")

// lateErr is the answer for an order still running when ctx ended: cancelled, its epoch was
// given up (a newer one admitted, or the instance isolated), else its time ran out.
func lateErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ErrStaleEpoch
	}
	return fmt.Errorf("%w: %w", ErrOrderLate, ctx.Err())
}

// carryOutBatch plans the batch's owned decisions at once (the step's Plan travels on
// another subscription and may come later), then runs every order, at most maxOrders at a
// time across the node, and returns one Result per order once they all returned or ctx
// ended, whichever is first: the orders still running then are answered late (lateErr).
// wait returns once every order returned.
func (n *Node) carryOutBatch(ctx context.Context, b *Batch) (res []Result, wait func()) {
	res = make([]Result, len(b.Decisions))
	ds := make([]policy.Decision, 0, len(b.Decisions))
	ids := make([]string, 0, len(b.Decisions))
	n.mu.Lock()
	for i, d := range b.Decisions {
		res[i].MinerID = d.MinerID
		if _, ok := n.views[d.MinerID]; !ok {
			res[i].Err = errText(ErrNotOwner, maxResultErr)
			continue
		}
		ds = append(ds, d.Decision())
		ids = append(ids, d.MinerID)
	}
	n.mu.Unlock()
	if len(ds) == 0 {
		n.counters.refused.Add(uint64(len(res)))
		return res, func() {}
	}
	n.counters.refused.Add(uint64(len(res) - len(ds)))
	// Recorded before the gates close: an order whose time runs out waiting for a slot never
	// reaches carryOut, and its gate must still be rolled back (fence.go).
	n.fence.planned(ids, b.Epoch, n.clk.Now())
	n.local.Plan(ds)
	type result struct {
		i   int
		err error
	}
	// Buffered for every order: one returning after the answer never blocks.
	out := make(chan result, len(ds))
	var wg sync.WaitGroup
	for i := range b.Decisions {
		if res[i].Err != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.slotted(ctx, b.Decisions[i].Decision(), b.Epoch, b.Leader)
			if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				err = lateErr(ctx) // the same answer whether it returned just before the reply or not
			}
			out <- result{i, err}
		}()
	}
	returned := make([]bool, len(res))
	late := 0 // answered as not carried out in the batch's time
	take := func(r result) {
		res[r.i].Err, returned[r.i] = errText(r.err, maxResultErr), true
		if ctx.Err() != nil && errors.Is(r.err, ErrOrderLate) {
			late++
		}
	}
wait:
	for left := len(ds); left > 0; left-- {
		select {
		case r := <-out:
			take(r)
		case <-ctx.Done():
			for drained := false; !drained; {
				select {
				case r := <-out:
					take(r)
				default:
					drained = true
				}
			}
			text := errText(lateErr(ctx), maxResultErr)
			for i := range res {
				if res[i].Err == "" && !returned[i] {
					res[i].Err = text
					late++
				}
			}
			break wait
		}
	}
	if late > 0 {
		n.log.Info().Err(ctx.Err()).Uint64("epoch", b.Epoch).Str("leader", b.Leader).Int("orders", late).Int("of", len(res)).
			Msg("batch answered with orders its firmware had not answered in time")
	}
	return res, wg.Wait
}

// slotted carries one order of a batch out once one of the maxOrders slots is free; an order
// whose time ran out while waiting fails.
func (n *Node) slotted(ctx context.Context, d policy.Decision, epoch uint64, leader string) error {
	select {
	case n.orders <- struct{}{}:
	case <-ctx.Done():
		n.counters.failed.Add(1)
		return ctx.Err()
	}
	defer func() { <-n.orders }()
	return n.carryOut(ctx, d, epoch, leader)
}

func (n *Node) replyBatch(msg *nats.Msg, res []Result, err error) {
	if msg.Reply == "" {
		return
	}
	n.mu.Lock()
	r := BatchReply{Epoch: n.highest, Results: res}
	n.mu.Unlock()
	if err != nil {
		r.Err, r.Results = errText(err, 4096), nil
	}
	b, eerr := encode(&r)
	if eerr != nil {
		n.log.Error().Err(eerr).Msg("batch reply not encoded")
		return
	}
	if err := msg.Respond(b); err != nil {
		n.counters.pubErr.Add(1)
	}
}
