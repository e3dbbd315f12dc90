package app

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// handoverCap bounds the share events a new process holds while the old one still owns the
// store (an upgrade's drain): 262,144 events, ~40 MB at most, are 80 s of a 10,000-miner
// fleet at 20 shares a minute each. Past it the newest are dropped (counted and logged when
// the store opens): the proxy's share path must never wait on a store it does not have yet.
const handoverCap = 1 << 18

// handoverLedger is the proxy's share sink. Once the store is attached it passes each event
// to it (ledger); before that, during an upgrade while the previous process still writes the
// store (SQLite takes one writer, and two processes must not interleave), it holds them in
// order and replays them when the store opens. It also keeps the forwarded shares still
// waiting for the pool's verdict (by hash: the verdict event carries the share's), so a
// process handing over can wait for their answers before it closes the store.
type handoverLedger struct {
	log zerolog.Logger
	max int // events held at most (handoverCap)

	mu       sync.Mutex
	led      *ledger // nil until attach
	held     []proxy.ShareEvent
	dropped  int
	inflight map[[32]byte]struct{}
}

func newHandoverLedger(log zerolog.Logger) *handoverLedger {
	return &handoverLedger{log: log, max: handoverCap, inflight: map[[32]byte]struct{}{}}
}

// RecordShare implements proxy.ShareSink.
func (h *handoverLedger) RecordShare(ev proxy.ShareEvent) {
	h.mu.Lock()
	switch ev.Result {
	case proxy.ResultForwarded:
		h.inflight[ev.Hash] = struct{}{}
	case proxy.ResultPoolAccepted, proxy.ResultPoolRejected, proxy.ResultPoolUnknown:
		delete(h.inflight, ev.Hash)
	}
	led := h.led
	if led == nil {
		if len(h.held) < h.max {
			h.held = append(h.held, ev)
		} else {
			h.dropped++
		}
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	led.RecordShare(ev)
}

// attach starts writing to st: the held events first, in the order they came. Events that
// arrive during the replay may be committed ahead of older held ones; the ledger orders by
// time where it matters.
func (h *handoverLedger) attach(st *store.Store) {
	led := &ledger{st: st, log: h.log}
	h.mu.Lock()
	held, dropped := h.held, h.dropped
	h.held, h.dropped = nil, 0
	h.led = led
	h.mu.Unlock()
	for _, ev := range held {
		led.RecordShare(ev)
	}
	if len(held) > 0 || dropped > 0 {
		h.log.Info().Int("replayed", len(held)).Int("dropped", dropped).
			Msg("share events held while the previous process owned the store are recorded")
	}
}

// drain waits until the attached ledger's backlog is in the store, or ctx ends; it returns
// how many events still wait (0 before attach: held events are the next process's).
func (h *handoverLedger) drain(ctx context.Context) int {
	h.mu.Lock()
	led := h.led
	h.mu.Unlock()
	if led == nil {
		return 0
	}
	return led.drain(ctx)
}

// settle waits until every share forwarded so far has its pool verdict recorded, or ctx
// ends, and returns how many are still waiting. Shares forwarded meanwhile (miners not yet
// gone) are not waited for: a busy fleet never leaves the set empty.
func (h *handoverLedger) settle(ctx context.Context) int { return h.await(ctx, h.pending()) }

// pending is the hashes of the forwarded shares waiting for a verdict now.
func (h *handoverLedger) pending() [][32]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([][32]byte, 0, len(h.inflight))
	for k := range h.inflight {
		out = append(out, k)
	}
	return out
}

// await waits until none of the shares in wait is in flight, or ctx ends; it returns how many
// still are.
func (h *handoverLedger) await(ctx context.Context, wait [][32]byte) int {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		h.mu.Lock()
		left := 0
		for _, k := range wait {
			if _, ok := h.inflight[k]; ok {
				wait[left] = k
				left++
			}
		}
		h.mu.Unlock()
		wait = wait[:left]
		if left == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return left
		case <-t.C:
		}
	}
}
