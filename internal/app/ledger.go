package app

import (
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
	"github.com/hashgate/hashgate/stratum/work"
)

// ledger writes the proxy's share events to the store. Local results may be shed by the store
// under overload (their per-worker counts are kept exactly); pool verdicts, forwarded shares
// and block candidates are not dropped while the store's writes succeed. RecordShare runs on
// the pool and miner readers, so it never waits for a slow disk: lossless events the store
// has no room for wait here, in order, and one goroutine hands them over as room comes.
// The zero value with st set is ready to use.
type ledger struct {
	st  *store.Store
	log zerolog.Logger

	max int // lossless events waiting here at most; 0: ledgerBacklog

	mu      sync.Mutex
	backlog []store.ShareEvent // lossless events not yet taken by the store, oldest first
	running bool               // a goroutine is handing the backlog to the store
}

// directRoom: while fewer lossless events than this wait in the store's queue (queue_size,
// 65,536 by default), nothing waits here and the event is handed over on the caller, so it
// is in the store when the reader that got it moves on and Close commits it.
const directRoom = 64

// ledgerBacklog bounds the lossless events waiting in the ledger. Drop policy: past it a new
// one is offered to the store without waiting, which counts it lost (Stats.SharesLost,
// /metrics) when its queue is still full; 65,536 verdicts are minutes of a large fleet's
// pool shares on top of the store's own queue.
const ledgerBacklog = 1 << 16

var resultMap = map[proxy.Result]store.Result{
	proxy.ResultAccepted:     store.ResultAcceptedLocal,
	proxy.ResultStale:        store.ResultRejected,
	proxy.ResultDuplicate:    store.ResultRejected,
	proxy.ResultLowDiff:      store.ResultRejected,
	proxy.ResultInvalid:      store.ResultRejected,
	proxy.ResultPaused:       store.ResultRejected,
	proxy.ResultForwarded:    store.ResultForwarded,
	proxy.ResultPoolAccepted: store.ResultPoolAccepted,
	proxy.ResultPoolRejected: store.ResultPoolRejected,
	proxy.ResultPoolUnknown:  store.ResultPoolUnknown,
	proxy.ResultNotForwarded: store.ResultNotForwarded,
	proxy.ResultBlock:        store.ResultBlockCandidate,
}

// ledgerWait bounds how long a lossless event handed over directly waits for the store.
const ledgerWait = 5 * time.Second

// RecordShare implements proxy.ShareSink.
func (l *ledger) RecordShare(ev proxy.ShareEvent) {
	r, ok := resultMap[ev.Result]
	if !ok {
		return
	}
	se := store.ShareEvent{
		Time:            ev.Time,
		Worker:          ev.Worker,
		Pool:            ev.Pool,
		Job:             ev.JobID,
		Difficulty:      ev.Difficulty,
		ShareDifficulty: ev.ShareDiff,
		Result:          r,
		Reason:          ev.Reason,
		ExpectedSats:    ev.ExpectedSats,
	}
	if r == store.ResultRejected && se.Reason == "" {
		se.Reason = ev.Result.String()
	}
	if r.Lossless() && ev.Hash != ([32]byte{}) {
		d := work.ReverseHash(ev.Hash)
		se.Hash = hex.EncodeToString(d[:])
	}
	if !r.Lossless() {
		// Lossy events never block in the store.
		l.note(l.st.RecordShare(context.Background(), se), se)
		return
	}
	limit := l.max
	if limit == 0 {
		limit = ledgerBacklog
	}
	l.mu.Lock()
	direct := !l.running && len(l.backlog) == 0 && l.st.Stats().LosslessQueued < directRoom
	if !direct && len(l.backlog) < limit {
		l.backlog = append(l.backlog, se)
		if !l.running {
			l.running = true
			go l.handOver()
		}
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	// Nothing waits ahead of it and the store's queue has room (directRoom): taken at once.
	// The wait bound only matters with a queue_size below directRoom.
	ctx, cancel := context.WithTimeout(context.Background(), ledgerWait)
	if !direct {
		cancel() // the backlog is full: no wait at all
	}
	defer cancel()
	l.note(l.st.RecordShare(ctx, se), se)
}

// handOver gives the backlog to the store in order, waiting for room as long as the store
// takes events; it ends when the backlog is empty. Once the store is closed the rest is
// dropped and counted in one log line.
func (l *ledger) handOver() {
	for {
		l.mu.Lock()
		if len(l.backlog) == 0 {
			l.backlog, l.running = nil, false
			l.mu.Unlock()
			return
		}
		se := l.backlog[0]
		l.backlog[0] = store.ShareEvent{}
		l.backlog = l.backlog[1:]
		l.mu.Unlock()
		err := l.st.RecordShare(context.Background(), se)
		if errors.Is(err, store.ErrClosed) {
			l.mu.Lock()
			n := len(l.backlog) + 1
			l.backlog, l.running = nil, false
			l.mu.Unlock()
			l.log.Warn().Int("events", n).Msg("pool verdicts still waiting for the store when it closed are not recorded")
			return
		}
		l.note(err, se)
	}
}

// drain waits until the backlog is in the store, or ctx ends, and says how many events are
// still waiting. Close calls it before closing the store: verdicts that waited for a slow
// disk are written, not dropped, when hashgate stops.
func (l *ledger) drain(ctx context.Context) int {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		l.mu.Lock()
		n := len(l.backlog)
		if l.running && n == 0 {
			n = 1 // the last one is being handed over
		}
		l.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
	}
}

// note logs what RecordShare's error calls for. A shed row, or a verdict that waited in vain,
// is counted by the store (Stats, /metrics) and logged there once per minute or per
// write-failure episode: a line per share here would flood the log when the disk fills.
func (l *ledger) note(err error, se store.ShareEvent) {
	switch {
	case err == nil, errors.Is(err, store.ErrShareShed), errors.Is(err, store.ErrShareLost), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
	case errors.Is(err, store.ErrClosed):
		l.log.Debug().Str("result", se.Result.String()).Str("worker", se.Worker).Msg("share event after the store closed")
	default:
		l.log.Warn().Err(err).Str("result", se.Result.String()).Str("worker", se.Worker).Msg("share event not recorded")
	}
}
