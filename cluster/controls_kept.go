package cluster

import (
	"context"
	"sync"
	"time"
)

// The controls document lives in NATS, so an instance that starts while NATS is unreachable
// would isolate at its floor with no controls at all: a group paused site-wide for
// maintenance would run again, a cap below safe_floor_kw would not lower the floor. So each
// instance keeps the last document it took from NATS in its own store (Options.Controls) and
// starts from it. The first answer from NATS replaces it whatever its revision: the bucket
// may have been deleted and created again (its revisions restart at 1, and an empty bucket
// means no controls), and NATS is the site's word once reached.

// ControlsStore keeps this instance's copy of the site's controls document across restarts
// (power.NewControlsStore over the SQLite store).
type ControlsStore interface {
	// SaveControls durably replaces the copy kept for site: the document's revision and
	// body (nil: the site has no document).
	SaveControls(ctx context.Context, site string, rev uint64, doc []byte) error
	// LoadControls returns the copy kept for site; ok is false when none is kept.
	LoadControls(ctx context.Context, site string) (rev uint64, doc []byte, ok bool, err error)
}

// ControlsFrom says where the controls document in force came from.
type ControlsFrom string

// Sources of the controls document.
const (
	ControlsNone   ControlsFrom = ""       // none read from NATS and none kept
	ControlsStored ControlsFrom = "stored" // this instance's kept copy: NATS not answered since start
	ControlsNATS   ControlsFrom = "nats"   // read from the site's bucket
)

const (
	// controlsLoadTimeout bounds reading the kept copy at start.
	controlsLoadTimeout = 5 * time.Second
	// controlsSaveTimeout bounds one write of the copy.
	controlsSaveTimeout = 10 * time.Second
	// controlsResave is how old the kept copy may get before it is written again unchanged:
	// the store prunes events past its retention (30 days by default), and a document
	// nobody changed for that long must still be there at the next start.
	controlsResave = 24 * time.Hour
)

// keptControls is the document waiting for the writer. Only the newest matters, so a
// newer one replaces one still waiting (latest wins: nothing queues up).
type keptControls struct {
	mu      sync.Mutex
	pending *savedControls
	wake    chan struct{} // capacity 1
}

type savedControls struct {
	rev uint64
	doc []byte // nil: no document
}

// keep hands the writer the document taken from NATS.
func (n *Node) keep(rev uint64, doc []byte) {
	if n.ctlStore == nil {
		return
	}
	k := &n.kept
	k.mu.Lock()
	k.pending = &savedControls{rev: rev, doc: doc}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default: // a wake-up is already waiting
	}
}

// keepControls writes the documents taken from NATS to the store, and the last one again
// every controlsResave, until ctx ends; what waits then is written before it returns.
func (n *Node) keepControls(ctx context.Context) {
	if n.ctlStore == nil {
		return
	}
	t := n.clk.NewTicker(controlsResave / 24)
	defer t.Stop()
	var last *savedControls
	var lastAt time.Time
	save := func(ctx context.Context) {
		k := &n.kept
		k.mu.Lock()
		s := k.pending
		k.pending = nil
		k.mu.Unlock()
		if s == nil {
			if last == nil || n.clk.Now().Sub(lastAt) < controlsResave {
				return
			}
			s = last
		}
		sctx, cancel := context.WithTimeout(ctx, controlsSaveTimeout)
		defer cancel()
		if err := n.ctlStore.SaveControls(sctx, n.cfg.Site, s.rev, s.doc); err != nil {
			n.log.Warn().Err(err).Uint64("revision", s.rev).Msg("site controls not kept in the store; the next start may begin from an older copy")
			return
		}
		last, lastAt = s, n.clk.Now()
	}
	for {
		select {
		case <-ctx.Done():
			save(context.Background())
			return
		case <-n.kept.wake:
			save(ctx)
		case <-t.C():
			save(ctx)
		}
	}
}

// loadControls starts the Node from the copy kept in the store, before NATS answers: the
// floor of an instance that restarts while NATS is down keeps the site's paused groups and
// cap. A copy that does not decode or fails the document's checks is ignored whole.
func (n *Node) loadControls(ctx context.Context) {
	if n.ctlStore == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, controlsLoadTimeout)
	defer cancel()
	rev, b, ok, err := n.ctlStore.LoadControls(ctx, n.cfg.Site)
	if err != nil {
		n.log.Warn().Err(err).Msg("kept site controls not read; none apply until NATS answers")
		return
	}
	if !ok || b == nil {
		return
	}
	doc, err := DecodeControls(b)
	if err != nil {
		n.log.Warn().Err(err).Uint64("revision", rev).Int("bytes", len(b)).Msg("kept site controls ignored; none apply until NATS answers")
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctl.from != ControlsNone {
		return // NATS answered first
	}
	n.ctl.doc, n.ctl.rev, n.ctl.from = *doc, rev, ControlsStored
	n.applyControlsLocked()
	n.log.Info().Uint64("revision", rev).Int("paused_groups", len(doc.PausedGroups)).Bool("cap", doc.Cap != nil).
		Msg("site controls from the store until NATS answers")
}

// noControls is NATS's answer that the site holds no document (an empty or new bucket): it
// replaces a kept copy, whose controls are undone.
func (n *Node) noControls() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctl.from != ControlsStored {
		return
	}
	n.ctl.doc, n.ctl.rev, n.ctl.from = Controls{}, 0, ControlsNATS
	n.applyControlsLocked()
	n.keep(0, nil)
	n.log.Info().Msg("site holds no controls document: the kept copy no longer applies")
}
