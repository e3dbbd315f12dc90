package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// The owner's record: a single instance's Runner keeps every decision and every confirmed
// command in its store, and a restart resumes the miners from them (power.Controller's
// restore). Clustered, another instance's Runner decides, and its audit trail is on that
// instance; so the owner keeps what it carries out for its own miners under another leader's
// orders in its own store, through Options.Record. Its own site Runner (while it leads) and
// its isolation Runner record there themselves. A decision is stored before its firmware
// answers, so when its gate is rolled back (the decision abandoned), the command carried out
// is stored after it. Nothing is written on the order's path: the records go through a
// bounded queue to one writer.

// recordQueue bounds the records waiting for the writer; a record beyond it is dropped and
// counted (records_dropped): the miner's previous stored state then stands, and the next
// order for it records again.
const recordQueue = 4096

// recordBatch is the most records one store transaction takes.
const recordBatch = 512

// recordFlush bounds writing what is still queued when the Node stops.
const recordFlush = 2 * time.Second

// ownRecord is one command carried out here: decided (before the firmware call), or applied
// (the firmware confirmed it).
type ownRecord struct {
	d       policy.Decision
	applied bool
}

// rollbacks are the commands carried out that rolled-back gates left standing, waiting for
// the writer: the latest per miner, so they are bounded by this instance's miners and never
// dropped. A dropped one would leave the abandoned decision (a pause nobody carried out) as
// the stored state, and no later order comes for a miner every leader takes as running.
type rollbacks struct {
	mu   sync.Mutex
	by   map[string]policy.Decision
	wake chan struct{} // capacity 1: the writer takes everything waiting at once
}

// recordRollback records ds, the commands carried out on miners whose gates were rolled back
// at now, as their stored states, through the writer without blocking.
func (n *Node) recordRollback(ds []policy.Decision, now time.Time) {
	if n.record == nil {
		return
	}
	r := &n.rolled
	r.mu.Lock()
	if r.by == nil {
		r.by = make(map[string]policy.Decision, len(ds))
	}
	for _, d := range ds {
		d.Basis.At = now
		r.by[d.MinerID] = d
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already waiting
	}
}

// storeRollbacks writes the waiting rollback records, recordBatch to a transaction.
func (n *Node) storeRollbacks(ctx context.Context) {
	r := &n.rolled
	r.mu.Lock()
	by := r.by
	r.by = nil
	r.mu.Unlock()
	if len(by) == 0 {
		return
	}
	ds := make([]policy.Decision, 0, len(by))
	for _, d := range by {
		ds = append(ds, d)
	}
	for len(ds) > 0 {
		k := min(len(ds), recordBatch)
		n.storeDecided(ctx, ds[:k], nil)
		ds = ds[k:]
	}
}

// queueRecord hands a record to the writer without blocking.
func (n *Node) queueRecord(r ownRecord) {
	if n.record == nil {
		return
	}
	select {
	case n.records <- r:
	default:
		if k := n.counters.recordDrops.Add(1); k == 1 || k%1000 == 0 {
			n.log.Warn().Uint64("dropped", k).Str("miner", r.d.MinerID).Msg("own command record dropped: the store writer is behind")
		}
	}
}

// recordOrder records a leader's order for one of this instance's miners: as decided before
// it is carried out (a pause is resumed as decided, confirmed or not), as applied once the
// firmware confirmed it. Orders of this instance's own term are recorded by its site Runner.
func (n *Node) recordOrder(d policy.Decision, leader string, applied bool) {
	if leader == "" || leader == n.inst {
		return
	}
	d.Basis.At = n.clk.Now()
	n.queueRecord(ownRecord{d: d, applied: applied})
}

// writeRecords stores the queued records until ctx ends.
func (n *Node) writeRecords(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-n.records:
			n.storeRecords(ctx, r)
		case <-n.rolled.wake:
			n.storeRollbacks(ctx)
		}
	}
}

// flushRecords stores what is still queued, for at most recordFlush.
func (n *Node) flushRecords() {
	if n.record == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordFlush)
	defer cancel()
	n.storeRollbacks(ctx)
	for {
		select {
		case r := <-n.records:
			n.storeRecords(ctx, r)
		default:
			return
		}
	}
}

// storeRecords writes first and what else is queued (up to recordBatch) in one batch.
func (n *Node) storeRecords(ctx context.Context, first ownRecord) {
	var ds []policy.Decision
	var evs []policy.Event
	add := func(r ownRecord) {
		if r.applied {
			evs = append(evs, policy.Event{At: r.d.Basis.At, Kind: policy.EventApplied, Decision: r.d})
		} else {
			ds = append(ds, r.d)
		}
	}
	add(first)
fill:
	for len(ds)+len(evs) < recordBatch {
		select {
		case r := <-n.records:
			add(r)
		default:
			break fill
		}
	}
	n.storeDecided(ctx, ds, evs)
}

// storeDecided writes decisions and events in one batch where the audit takes batches.
func (n *Node) storeDecided(ctx context.Context, ds []policy.Decision, evs []policy.Event) {
	var err error
	if b, ok := n.record.(policy.BatchAudit); ok {
		err = b.RecordBatch(ctx, ds, evs)
	} else {
		for _, d := range ds {
			if e := n.record.RecordDecision(ctx, d); e != nil {
				err = e
			}
		}
		for _, ev := range evs {
			if e := n.record.RecordEvent(ctx, ev); e != nil {
				err = e
			}
		}
	}
	if err != nil {
		n.counters.recordErrs.Add(uint64(len(ds) + len(evs)))
		n.log.Warn().Err(err).Int("records", len(ds)+len(evs)).Msg("own command records not stored")
	}
}
