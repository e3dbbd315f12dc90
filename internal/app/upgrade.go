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
//  1. The new process takes the sockets over, checks its keys and certificates and what it
//     will open in step 4 (the store's schema version, the embedded NATS directory), starts
//     the proxy and waits for a pool's work; only then does it say it is ready. A new process
//     that fails before (bad config, no pool, a store it cannot open) leaves the old one
//     serving.
//  2. The old process stops accepting (HandOver): new connections go to the new one. It asks
//     its miners to reconnect over [upgrade] drain; they come back to the same address, now
//     the new process's. Their shares meanwhile are answered and recorded by the old one.
//  3. The old process waits for the pool's verdicts on forwarded shares, closes the proxy
//     (SV2 miners are sent Reconnect) and then the store, and exits.
//  4. The new process, serving miners since step 2, holds their share events in memory until
//     the old one has exited, then opens the store, records them, and starts the power
//     controller, the alerts and the console. The store never has two writers, and the
//     power policy never two processes actuating the same miners. Until then its gates
//     follow the old process's (HeldGates): that one's policy decides until it exits.

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
	// Held, when set, is the previous process's list as it changes: its power policy decides
	// until it exits, and a miner it pauses meanwhile must stay paused here too. Paused is
	// then the list Held had when this process started; the gates follow it until the previous
	// process is gone.
	Held *HeldGates
}

// workPoll is how often a process taking over checks whether a pool has sent work, and
// heldPoll how often both processes check the held gates.
const (
	workPoll = 20 * time.Millisecond
	heldPoll = 50 * time.Millisecond
)

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
		if err := a.followHeld(h.Held); err != nil {
			t.Stop()
			closeAll(ls)
			return err
		}
	}
	t.Stop()
	// Once more before Ready: an unreadable list fails here, with the old process serving.
	if err := a.followHeld(h.Held); err != nil {
		closeAll(ls)
		return err
	}
	if err := a.serve(ls); err != nil {
		return err
	}
	if err := h.Ready(); err != nil {
		return fmt.Errorf("upgrade: telling the previous process: %w", err)
	}
	a.log.Info().Msg("upgrade: serving miners; waiting for the previous process to hand over the store")
	if err := a.awaitParent(ctx, h); err != nil {
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

// awaitParent waits for the previous process to exit, its closed gates followed meanwhile,
// and reads them once more after: the list it published once its policy stopped deciding.
func (a *App) awaitParent(ctx context.Context, h *Handover) error {
	gone := make(chan error, 1)
	go func() { gone <- h.ParentGone(ctx) }()
	t := time.NewTicker(heldPoll)
	defer t.Stop()
	for {
		select {
		case err := <-gone:
			if ferr := a.followHeld(h.Held); ferr != nil {
				// The last list is unknown: hold what was held, the controller decides next.
				a.log.Warn().Err(ferr).Msg("upgrade: reading the previous process's last held gates failed")
			}
			return err
		case <-t.C:
			if err := a.followHeld(h.Held); err != nil {
				a.log.Warn().Err(err).Msg("upgrade: reading the previous process's held gates failed")
			}
		}
	}
}

// followHeld brings the gates held over to the previous process's latest list: newly listed
// workers are paused, those it released resumed. Until the store opens these are the only
// gates this process closes.
func (a *App) followHeld(h *HeldGates) error {
	if h == nil {
		return nil
	}
	now, changed, err := h.Read()
	if err != nil || !changed {
		return err
	}
	want := make(map[string]bool, len(now))
	for _, w := range now {
		want[w] = true
	}
	had := make(map[string]bool, len(a.heldOver))
	for _, w := range a.heldOver {
		had[w] = true
		if !want[w] {
			a.Proxy.Resume(w)
		}
	}
	for _, w := range now {
		if !had[w] {
			a.Proxy.Pause(w)
		}
	}
	a.heldOver = now
	a.log.Info().Int("held_workers", len(now)).Msg("upgrade: the previous process's held gates changed")
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
// drain short (a SIGTERM meanwhile). The power policy decides until Close: held, when set,
// gets the closed gates as they change, and once more after Close, when they no longer can.
func (a *App) HandOver(ctx context.Context, drain time.Duration, held *HeldGates) error {
	start := time.Now()
	a.publishHeld(held) // what changed while the new process was getting ready
	stop, published := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(published)
		t := time.NewTicker(heldPoll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				a.publishHeld(held)
			}
		}
	}()
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
	close(stop)
	<-published
	a.publishHeld(held)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// publishHeld gives held the gates closed now.
func (a *App) publishHeld(held *HeldGates) {
	if held == nil {
		return
	}
	if err := held.Publish(a.Proxy.PausedWorkers()); err != nil {
		a.log.Warn().Err(err).Msg("upgrade: passing the held gates to the new process failed")
	}
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
