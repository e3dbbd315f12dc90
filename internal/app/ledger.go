package app

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
	"github.com/hashgate/hashgate/stratum/work"
)

// ledger writes the proxy's share events to the store. Local results may be shed by the store
// under overload (their per-worker counts are kept exactly); pool verdicts, forwarded shares
// and block candidates are never dropped: RecordShare waits for room for those.
type ledger struct {
	st  *store.Store
	log zerolog.Logger
}

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

// ledgerWait bounds how long a lossless share event waits for the store.
const ledgerWait = 5 * time.Second

// RecordShare implements proxy.ShareSink.
func (l ledger) RecordShare(ev proxy.ShareEvent) {
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
	// Lossy events never block in the store, so the per-share path needs no timer. Lossless
	// ones wait for room in the store's queue, but boundedly: this runs on share and verdict
	// paths, and a stuck disk must not stall the fleet.
	ctx := context.Background()
	if r.Lossless() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ledgerWait)
		defer cancel()
	}
	// A shed row, or a verdict that waited in vain, is counted by the store (Stats, /metrics)
	// and logged there once per minute or per write-failure episode: a line per share here
	// would flood the log when the disk fills.
	switch err := l.st.RecordShare(ctx, se); {
	case err == nil, errors.Is(err, store.ErrShareShed), errors.Is(err, store.ErrShareLost), errors.Is(err, context.DeadlineExceeded):
	case errors.Is(err, store.ErrClosed):
		l.log.Debug().Str("result", r.String()).Str("worker", se.Worker).Msg("share event after the store closed")
	default:
		l.log.Warn().Err(err).Str("result", r.String()).Str("worker", se.Worker).Msg("share event not recorded")
	}
}
