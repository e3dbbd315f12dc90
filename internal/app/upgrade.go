package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashgate/hashgate/store"
)

// An upgrade hands the listening sockets to a new process so no miner is refused (the
// machinery is in cmd/hashgate). In order:
//
//  1. The new process takes the sockets over, checks its keys and certificates, starts the
//     proxy and waits for a pool's work; only then does it say it is ready. A new process
//     that fails before (bad config, no pool) leaves the old one serving.
//  2. The old process stops accepting (HandOver): new connections go to the new one. It asks
//     its miners to reconnect over [upgrade] drain; they come back to the same address, now
//     the new process's. Their shares meanwhile are answered and recorded by the old one.
//  3. The old process waits for the pool's verdicts on forwarded shares, closes the proxy
//     (SV2 miners are sent Reconnect) and then the store, and exits.
//  4. The new process, serving miners since step 2, holds their share events in memory until
//     the old one has exited, then opens the store, records them, and starts the power
//     controller, the alerts and the console. The store never has two writers, and the
//     power policy never two processes actuating the same miners.

// Options are what differs between a first start and a process taking over.
type Options struct {
	// Listen opens a listening socket, or takes over one a previous process passed on
	// (default: net.Listen).
	Listen func(network, addr string) (net.Listener, error)
	// Handover is set when a previous process still serves: Start then follows the hand-over
	// order above.
	Handover *Handover
}

// Handover is the new process's side of an upgrade.
type Handover struct {
	// Ready tells the previous process this one serves: it stops accepting and drains.
	Ready func() error
	// ParentGone returns once the previous process has exited (its store closed).
	ParentGone func(ctx context.Context) error
	// Paused are the workers whose gate the previous process held: they stay held here until
	// the store and the power controller, which restore them for good, are up.
	Paused []string
}

// workPoll is how often a process taking over checks whether a pool has sent work.
const workPoll = 20 * time.Millisecond

// takeOver is step 1 and 4 of an upgrade in the new process.
func (a *App) takeOver(ctx context.Context, h *Handover) error {
	a.heldOver = h.Paused
	for _, w := range h.Paused {
		a.Proxy.Pause(w)
	}
	if err := a.checkAfterReady(ctx); err != nil {
		return err
	}
	ls, err := a.openListeners()
	if err != nil {
		return err
	}
	a.Proxy.Start(ctx)
	// Miners handed over to a process with no work would sit idle: the previous process keeps
	// them until a pool has answered here (or the upgrade times out and this process is
	// stopped).
	a.log.Info().Msg("upgrade: waiting for work from a pool before taking the miners over")
	t := time.NewTicker(workPoll)
	for !a.Proxy.HasWork() {
		select {
		case <-ctx.Done():
			t.Stop()
			closeAll(ls)
			return ctx.Err()
		case <-t.C:
		}
	}
	t.Stop()
	if err := a.serve(ls); err != nil {
		return err
	}
	if err := h.Ready(); err != nil {
		return fmt.Errorf("upgrade: telling the previous process: %w", err)
	}
	a.log.Info().Msg("upgrade: serving miners; waiting for the previous process to hand over the store")
	if err := h.ParentGone(ctx); err != nil {
		// It exited all the same (the error is how): its store is closed or abandoned.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn().Err(err).Msg("upgrade: the previous process did not exit cleanly")
	}
	if err := a.openStore(ctx); err != nil {
		return err
	}
	a.log.Info().Msg("upgrade: store opened; hand-over complete")
	return nil
}

// checkAfterReady checks, without writing the store, what step 4 does once the previous
// process has exited: a failure then would leave no process serving. The store must be one
// this build can open (not migrated by a newer build) and the embedded NATS server's store
// directory writable.
func (a *App) checkAfterReady(ctx context.Context) error {
	if err := store.CheckSchema(ctx, a.cfg.Store); err != nil {
		return fmt.Errorf("upgrade: store.path: %w", err)
	}
	cc := a.cfg.Cluster
	if cc == nil || !cc.Embed || cc.EmbedStoreDir == "" {
		return nil
	}
	if err := os.MkdirAll(cc.EmbedStoreDir, 0o750); err != nil {
		return fmt.Errorf("upgrade: cluster.embed_store_dir: %w", err)
	}
	fh, err := os.CreateTemp(cc.EmbedStoreDir, ".hashgate-check-*")
	if err != nil {
		return fmt.Errorf("upgrade: cluster.embed_store_dir: %w", err)
	}
	fh.Close()
	return os.Remove(fh.Name())
}

// HandOver is the old process's side once the new one is ready (steps 2 and 3): it stops
// accepting, asks the miners to reconnect over drain, waits (up to submit_timeout) for the
// pool's verdicts on shares in flight, and closes everything, the store last. ctx cuts the
// drain short (a SIGTERM meanwhile).
func (a *App) HandOver(ctx context.Context, drain time.Duration) error {
	start := time.Now()
	// The console keeps serving here until Close: the new process takes its connections once
	// its store is open.
	a.Proxy.StopAccepting()
	told := a.Proxy.Drain(ctx, drain)
	wait := a.cfg.Proxy.SubmitTimeout.D()
	if wait <= 0 {
		wait = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, wait)
	left := a.sink.settle(sctx)
	cancel()
	a.log.Info().Int("miners_told", told).Int("verdicts_unanswered", left).Dur("took", time.Since(start)).
		Msg("upgrade: drained; closing")
	err := a.Close()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// releaseHeldOver opens the gates the previous process held that the power controller, now
// restored from the store, does not hold (released during the drain). It runs before the
// controller's loop, which then owns every gate.
func (a *App) releaseHeldOver() {
	for _, w := range a.heldOver {
		if a.Power.Holds(w) == 0 {
			a.Proxy.Resume(w)
		}
	}
	a.heldOver = nil
}
