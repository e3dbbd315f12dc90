package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hashgate/hashgate/policy"
)

// The operator's site-wide controls (cap, paused groups, demand-response events) are one
// document in the JetStream KV bucket hashgate_controls_<site>, key "site". Whichever instance
// the operator uses writes it (Get, change, Update at the read revision, again on a conflict);
// the leader watches it and applies it to the site's Runner, and a new leader reads it before
// its Runner's first step. Every instance follows it: an isolated one applies the document it
// last saw to its floor Runner (a paused group stays paused there, a cap below safe_floor_kw
// lowers the floor). The document outlives every instance: a leader change or a restart
// keeps the cap, the paused groups and the events; a restart while NATS is down starts from
// the copy this instance kept (controls_kept.go).

// controlsKey is the one key of the controls bucket.
const controlsKey = "site"

// Bounds of the controls document.
const (
	maxPausedGroups = 256
	maxDREvents     = 256
	// maxControls caps the stored document: 256 groups and 256 events fit in far less.
	maxControls = 256 << 10
	// controlWriteTries bounds the read-change-write retries when instances write at once.
	controlWriteTries = 8
	// controlTimeout bounds a control's write when the caller's context has no deadline.
	controlTimeout = 5 * time.Second
)

// Errors of the site controls.
var (
	// ErrNoNATS answers a site control while this instance cannot reach NATS: the control
	// cannot reach the site's policy, so it is refused rather than kept here.
	ErrNoNATS = errors.New("cluster: NATS not reachable; the site control was not stored")
	// ErrControlConflict is returned when other instances kept changing the controls for
	// every try.
	ErrControlConflict = errors.New("cluster: site controls changed concurrently; try again")
	// ErrNoControl answers the clearing of a cap or the cancelling of an event the site does
	// not hold: nothing is written.
	ErrNoControl = errors.New("cluster: no such site control")
)

// ControlsBucket is the KV bucket name of a site's operator controls.
func ControlsBucket(site string) string { return "hashgate_controls_" + site }

// Controls is the stored document of a site's operator controls.
type Controls struct {
	// V is the document version, 1.
	V int `json:"v"`
	// Cap limits the site's mining power until Cap.Until (by the leader's clock); nil: none.
	Cap *CapControl `json:"cap,omitempty"`
	// PausedGroups are fleet groups kept off whatever the budget.
	PausedGroups []string `json:"paused_groups,omitempty"`
	// DR are the scheduled and active demand-response events, unique by ID.
	DR []DRControl `json:"dr,omitempty"`
}

// CapControl is the operator cap.
type CapControl struct {
	KW    float64   `json:"kw"`
	Until time.Time `json:"until"`
}

// DRControl is a policy.DREvent in the document.
type DRControl struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TargetKW float64   `json:"target_kw"`
}

// Event is the policy's form.
func (d DRControl) Event() policy.DREvent {
	return policy.DREvent{ID: d.ID, Start: d.Start, End: d.End, TargetKW: d.TargetKW}
}

// Validate refuses a document the leader must not apply.
func (c *Controls) Validate() error {
	if c.V != 1 {
		return badf("controls: version %d, want 1", c.V)
	}
	if c.Cap != nil && (!kwOK(c.Cap.KW) || c.Cap.Until.IsZero()) {
		return badf("controls: cap needs kw in [0, 1e6) and an until")
	}
	if len(c.PausedGroups) > maxPausedGroups {
		return badf("controls: %d paused groups, more than %d", len(c.PausedGroups), maxPausedGroups)
	}
	seen := map[string]bool{}
	for _, g := range c.PausedGroups {
		if !idOK(g) || seen[g] {
			return badf("controls: paused group %q empty, too long or repeated", g)
		}
		seen[g] = true
	}
	if len(c.DR) > maxDREvents {
		return badf("controls: %d demand-response events, more than %d", len(c.DR), maxDREvents)
	}
	clear(seen)
	for _, d := range c.DR {
		if !idOK(d.ID) || seen[d.ID] || !d.End.After(d.Start) || !kwOK(d.TargetKW) {
			return badf("controls: demand-response event %q needs a unique id, an end after its start and a target in [0, 1e6)", d.ID)
		}
		seen[d.ID] = true
	}
	return nil
}

// DecodeControls parses and checks a stored controls document.
func DecodeControls(b []byte) (*Controls, error) {
	if len(b) > maxControls {
		return nil, badf("controls: %d bytes, more than %d", len(b), maxControls)
	}
	c := &Controls{}
	if err := decode(b, c); err != nil {
		return nil, err
	}
	return c, nil
}

// controlsView is what the Node knows of the controls document and what it applied. n.mu.
type controlsView struct {
	doc Controls
	rev uint64
	// What the site Runner and the isolation Runner were given: an isolated instance keeps
	// the last controls it saw (a group paused site-wide stays paused on its floor, a cap
	// below safe_floor_kw lowers the floor).
	site, iso given
	// from says whether doc is this instance's kept copy (controls_kept.go) or NATS's.
	from ControlsFrom
}

// given is what one Runner was given, to undo what the document dropped.
type given struct {
	t      *term // the Runner's term: a new one starts with nothing given
	groups map[string]bool
	dr     map[string]bool
}

// controlsKV opens (creating if needed) the site's controls bucket; ErrNoNATS while not
// connected.
func (n *Node) controlsKV(ctx context.Context) (jetstream.KeyValue, error) {
	nc := n.nc.Load()
	if nc == nil || !nc.IsConnected() {
		return nil, ErrNoNATS
	}
	n.ctlMu.Lock()
	defer n.ctlMu.Unlock()
	if n.ctlKV != nil {
		return n.ctlKV, nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	replicas := 1
	if len(nc.Servers()) >= 3 {
		replicas = 3
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: ControlsBucket(n.cfg.Site), History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
		MaxValueSize: maxControls, Description: "hashgate site operator controls",
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: controls bucket: %w", err)
	}
	n.ctlKV = kv
	return kv, nil
}

// changeControls reads the document, lets change edit it and writes it back at the revision
// read, retrying when another instance wrote in between. A stored document that fails its
// checks is replaced (it is logged and counted).
func (n *Node) changeControls(ctx context.Context, change func(*Controls) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, controlTimeout)
		defer cancel()
	}
	kv, err := n.controlsKV(ctx)
	if err != nil {
		return err
	}
	for range controlWriteTries {
		doc, rev := &Controls{V: 1}, uint64(0)
		e, err := kv.Get(ctx, controlsKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("cluster: reading site controls: %w", err)
		default:
			rev = e.Revision()
			if d, derr := DecodeControls(e.Value()); derr != nil {
				// Refused and replaced, from the last good document this instance read.
				n.badControls(rev, len(e.Value()), derr)
				last, _ := n.Controls()
				doc = &last
				doc.V = 1
			} else {
				doc = d
			}
		}
		if err := change(doc); err != nil {
			return err
		}
		b, err := encode(doc)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, controlsKey, b)
		} else {
			_, err = kv.Update(ctx, controlsKey, b, rev)
		}
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			continue
		}
		if err != nil {
			return fmt.Errorf("cluster: writing site controls: %w", err)
		}
		return nil
	}
	return ErrControlConflict
}

// SetCap limits the site's mining power to kw until the given time (by the leader's clock).
func (n *Node) SetCap(ctx context.Context, kw float64, until time.Time) error {
	return n.changeControls(ctx, func(c *Controls) error {
		c.Cap = &CapControl{KW: kw, Until: until}
		return nil
	})
}

// ClearCap removes the site's operator cap; ErrNoControl when none is set.
func (n *Node) ClearCap(ctx context.Context) error {
	return n.changeControls(ctx, func(c *Controls) error {
		if c.Cap == nil {
			return ErrNoControl
		}
		c.Cap = nil
		return nil
	})
}

// PauseGroup keeps the group's miners off on every instance until ResumeGroup.
func (n *Node) PauseGroup(ctx context.Context, group string) error {
	return n.changeControls(ctx, func(c *Controls) error {
		if !slices.Contains(c.PausedGroups, group) {
			c.PausedGroups = append(c.PausedGroups, group)
		}
		return nil
	})
}

// ResumeGroup hands a paused group back to the site's policy.
func (n *Node) ResumeGroup(ctx context.Context, group string) error {
	return n.changeControls(ctx, func(c *Controls) error {
		c.PausedGroups = slices.DeleteFunc(c.PausedGroups, func(g string) bool { return g == group })
		return nil
	})
}

// AddDREvent schedules a demand-response event for the site, replacing one with its ID.
// Events that ended an hour before (by this instance's clock) are dropped from the document
// to keep room.
func (n *Node) AddDREvent(ctx context.Context, ev policy.DREvent) error {
	old := n.clk.Now().Add(-time.Hour)
	return n.changeControls(ctx, func(c *Controls) error {
		c.DR = slices.DeleteFunc(c.DR, func(d DRControl) bool { return d.ID == ev.ID || d.End.Before(old) })
		c.DR = append(c.DR, DRControl{ID: ev.ID, Start: ev.Start, End: ev.End, TargetKW: ev.TargetKW})
		return nil
	})
}

// RemoveDREvent cancels a demand-response event of the site; ErrNoControl when it is not
// scheduled.
func (n *Node) RemoveDREvent(ctx context.Context, id string) error {
	return n.changeControls(ctx, func(c *Controls) error {
		n := len(c.DR)
		if c.DR = slices.DeleteFunc(c.DR, func(d DRControl) bool { return d.ID == id }); len(c.DR) == n {
			return ErrNoControl
		}
		return nil
	})
}

// SiteGroup reports whether an instance of the site reports a miner of the group, or the
// group is paused: a group defined on another instance only can still be paused from here.
func (n *Node) SiteGroup(group string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if slices.Contains(n.ctl.doc.PausedGroups, group) {
		return true
	}
	for _, p := range n.peers {
		for _, m := range p.miners {
			if m.Group == group {
				return true
			}
		}
	}
	return false
}

// Controls returns the site's controls as this instance last read them, with their revision
// (0: none stored or none read yet); until NATS answers after a start, the copy this instance
// kept (Status.ControlsFrom says which).
func (n *Node) Controls() (Controls, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.ctl.doc
	c.PausedGroups, c.DR = slices.Clone(c.PausedGroups), slices.Clone(c.DR)
	if c.Cap != nil {
		cp := *c.Cap
		c.Cap = &cp
	}
	return c, n.ctl.rev
}

func (n *Node) badControls(rev uint64, size int, err error) {
	n.counters.bad.Add(1)
	n.log.Warn().Err(err).Uint64("revision", rev).Int("bytes", size).Msg("site controls refused")
}

// takeControls keeps a stored document (a deleted key is no controls) and applies it to the
// Runner running here (the site's while this instance leads, the floor's while isolated). A
// document that fails its checks is refused whole: the last good one stays in force.
func (n *Node) takeControls(rev uint64, value []byte, deleted bool) {
	doc := &Controls{V: 1}
	if !deleted {
		d, err := DecodeControls(value)
		if err != nil {
			n.badControls(rev, len(value), err)
			return
		}
		doc = d
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if rev < n.ctl.rev && n.ctl.from != ControlsStored {
		return // older than what a new term read (a kept copy yields to NATS's first answer)
	}
	same := n.ctl.from == ControlsNATS && rev == n.ctl.rev
	n.ctl.doc, n.ctl.rev, n.ctl.from = *doc, rev, ControlsNATS
	n.applyControlsLocked()
	if !same {
		var b []byte
		if !deleted {
			b = slices.Clone(value)
		}
		n.keep(rev, b)
	}
}

// readControls brings the document up to date before a new term's Runner decides.
func (n *Node) readControls() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL.D()/3)
	defer cancel()
	kv, err := n.controlsKV(ctx)
	if err == nil {
		var e jetstream.KeyValueEntry
		e, err = kv.Get(ctx, controlsKey)
		switch {
		case err == nil:
			n.takeControls(e.Revision(), e.Value(), false)
		case errors.Is(err, jetstream.ErrKeyNotFound):
			err = nil
			n.noControls()
		}
	}
	if err != nil {
		n.log.Warn().Err(err).Msg("site controls not read for the new term; the last ones seen apply until the watch delivers")
	}
}

// applyControlsLocked gives the site Runner, and the isolation Runner, the document: the cap
// (cleared once past its until by this instance's clock), the paused groups and the events,
// undoing what the document no longer holds. n.mu held.
func (n *Node) applyControlsLocked() {
	now := n.clk.Now()
	n.ctl.site.apply(n.site, &n.ctl.doc, now)
	n.ctl.iso.apply(n.iso, &n.ctl.doc, now)
}

// apply brings t's Runner to doc; nil t (no such Runner running) is nothing to do.
func (v *given) apply(t *term, doc *Controls, now time.Time) {
	if t == nil {
		return
	}
	r := t.r
	if v.t != t {
		v.t, v.groups, v.dr = t, map[string]bool{}, map[string]bool{} // a new Runner starts with none
	}
	if c := doc.Cap; c != nil && c.Until.After(now) {
		r.SetCap(c.KW, c.Until)
	} else {
		r.ClearCap()
	}
	keep := map[string]bool{}
	for _, g := range doc.PausedGroups {
		keep[g] = true
		if !v.groups[g] {
			r.PauseGroup(g)
		}
	}
	for g := range v.groups {
		if !keep[g] {
			r.ResumeGroup(g)
		}
	}
	v.groups = keep
	keep = map[string]bool{}
	for _, d := range doc.DR {
		keep[d.ID] = true
		r.AddDREvent(d.Event())
	}
	for id := range v.dr {
		if !keep[id] {
			r.RemoveDREvent(id)
		}
	}
	v.dr = keep
}

// watchControls follows the controls document for as long as ctx runs, reopening the watch
// when it ends (a lost connection).
func (n *Node) watchControls(ctx context.Context) {
	t := n.clk.NewTicker(n.cfg.LeaseTTL.D() / 3)
	defer t.Stop()
	for {
		n.watchControlsOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (n *Node) watchControlsOnce(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	kv, err := n.controlsKV(octx)
	cancel()
	if err != nil {
		return
	}
	w, err := kv.Watch(ctx, controlsKey)
	if err != nil {
		n.log.Info().Err(err).Msg("site controls not watched yet")
		return
	}
	defer w.Stop()
	got := false
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				if !got {
					n.noControls() // the bucket holds no document
				}
				continue // the current value was delivered
			}
			got = true
			op := e.Operation()
			n.takeControls(e.Revision(), e.Value(), op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge)
		}
	}
}
