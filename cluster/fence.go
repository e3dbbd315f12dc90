package cluster

import (
	"context"
	"errors"
	"sync"
	"time"
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

// proven reports whether the lease shows leader holding epoch or a later one. A claim the
// last read proves costs nothing; otherwise the key is read, at most once per lease_ttl/6
// whoever asks, so a flood of false claims costs the server little and the real leader's next
// heartbeat is proven by the same read. read tells whether this call read the key.
func (n *Node) proven(leader string, epoch uint64) (ok, read bool) {
	f := &n.fence
	now := n.clk.Now()
	f.mu.Lock()
	if f.provedLeader == leader && f.provedEpoch >= epoch {
		f.mu.Unlock()
		return true, false
	}
	if !f.lastRead.IsZero() && now.Sub(f.lastRead) < n.cfg.LeaseTTL.D()/6 && !now.Before(f.lastRead) {
		f.mu.Unlock()
		return false, false
	}
	f.lastRead = now
	f.mu.Unlock()
	l := n.lease.Load()
	if l == nil {
		return false, false
	}
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
	return f.provedLeader == leader && f.provedEpoch >= epoch, true
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
