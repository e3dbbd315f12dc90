package power

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// Operator controls are recorded in the audit trail (with the actor) before they take effect,
// and replayed from it at start, oldest first, so a cap, a paused group, a scheduled
// demand-response event or a paused worker survives a restart.
const (
	KindCap          = "manual.cap"
	KindCapCleared   = "manual.cap_cleared"
	KindPauseGroup   = "manual.pause_group"
	KindResumeGroup  = "manual.resume_group"
	KindDRScheduled  = "manual.dr_scheduled"
	KindDRCancelled  = "manual.dr_cancelled"
	KindPauseWorker  = "manual.pause_worker"
	KindResumeWorker = "manual.resume_worker"
)

var manualKinds = []string{KindCap, KindCapCleared, KindPauseGroup, KindResumeGroup, KindDRScheduled, KindDRCancelled,
	KindPauseWorker, KindResumeWorker, KindPowerProfile}

type capDetail struct {
	KW    float64   `json:"kw"`
	Until time.Time `json:"until"`
}

// record writes an operator control to the audit trail; it is on disk when record returns.
func (c *Controller) record(ctx context.Context, actor, kind, subject string, detail any) error {
	if c.st == nil {
		return nil
	}
	var d json.RawMessage
	if detail != nil {
		var err error
		if d, err = json.Marshal(detail); err != nil {
			return err
		}
	}
	_, err := c.st.RecordEvent(ctx, store.Event{Time: c.clk.Now(), Kind: kind, Subject: subject, Detail: d, Actor: actor})
	return err
}

// SiteControls takes the site-wide operator controls where the site's policy runs
// elsewhere: a Sink that implements it (cluster.Node) stores them for the site's leader. Each
// method returns once the control is stored, or why it was not.
type SiteControls interface {
	SetCap(ctx context.Context, kw float64, until time.Time) error
	ClearCap(ctx context.Context) error
	PauseGroup(ctx context.Context, group string) error
	ResumeGroup(ctx context.Context, group string) error
	AddDREvent(ctx context.Context, ev policy.DREvent) error
	RemoveDREvent(ctx context.Context, id string) error
	// SiteGroup reports whether the group is known on the site (its miners may all be on
	// other instances).
	SiteGroup(group string) bool
}

// siteControl carries out a site-wide control: on the Controller's own Runner (recorded in
// the audit trail first), or through the Sink's SiteControls (recorded once stored, so the
// trail holds no control the site never got). Without either it is ErrNoPolicy.
func (c *Controller) siteControl(ctx context.Context, actor, kind, subject string, detail any,
	local func(*policy.Runner), site func(SiteControls) error) error {
	if c.runner != nil {
		if err := c.record(ctx, actor, kind, subject, detail); err != nil {
			return err
		}
		local(c.runner)
		return nil
	}
	sc, ok := c.sink.(SiteControls)
	if !ok {
		return ErrNoPolicy
	}
	if err := site(sc); err != nil {
		return err
	}
	return c.record(ctx, actor, kind, subject, detail)
}

// SetCap limits total mining power to kw until the given time.
func (c *Controller) SetCap(ctx context.Context, actor string, kw float64, until time.Time) error {
	return c.siteControl(ctx, actor, KindCap, "", capDetail{KW: kw, Until: until},
		func(r *policy.Runner) { r.SetCap(kw, until) },
		func(s SiteControls) error { return s.SetCap(ctx, kw, until) })
}

// ClearCap removes the operator cap.
func (c *Controller) ClearCap(ctx context.Context, actor string) error {
	return c.siteControl(ctx, actor, KindCapCleared, "", nil,
		func(r *policy.Runner) { r.ClearCap() },
		func(s SiteControls) error { return s.ClearCap(ctx) })
}

// group checks a fleet group's name: one of this instance's [[fleet]] groups, or on a
// clustered site one that another instance reports.
func (c *Controller) group(name string) error {
	for i := range c.groups {
		if c.groups[i].Name == name {
			return nil
		}
	}
	if sc, ok := c.sink.(SiteControls); ok && c.runner == nil && sc.SiteGroup(name) {
		return nil
	}
	return ErrNotFound
}

// PauseGroup keeps every miner of a fleet group off until ResumeGroup.
func (c *Controller) PauseGroup(ctx context.Context, actor, group string) error {
	if c.runner == nil && c.sink == nil {
		return ErrNoPolicy
	}
	if err := c.group(group); err != nil {
		return err
	}
	return c.siteControl(ctx, actor, KindPauseGroup, group, nil,
		func(r *policy.Runner) { r.PauseGroup(group) },
		func(s SiteControls) error { return s.PauseGroup(ctx, group) })
}

// ResumeGroup hands a paused group back to the policy (restores are paced).
func (c *Controller) ResumeGroup(ctx context.Context, actor, group string) error {
	if c.runner == nil && c.sink == nil {
		return ErrNoPolicy
	}
	if err := c.group(group); err != nil {
		return err
	}
	return c.siteControl(ctx, actor, KindResumeGroup, group, nil,
		func(r *policy.Runner) { r.ResumeGroup(group) },
		func(s SiteControls) error { return s.ResumeGroup(ctx, group) })
}

// ErrBadDR is returned by ScheduleDR for an event without an id, with an end not after its
// start or a negative target.
var ErrBadDR = errors.New("a demand-response event needs an id, an end after its start and a target >= 0")

// ScheduleDR adds (or replaces, by ID) a demand-response event.
func (c *Controller) ScheduleDR(ctx context.Context, actor string, ev policy.DREvent) error {
	if c.runner == nil && c.sink == nil {
		return ErrNoPolicy
	}
	if ev.ID == "" || !ev.End.After(ev.Start) || ev.TargetKW < 0 {
		return ErrBadDR
	}
	return c.siteControl(ctx, actor, KindDRScheduled, ev.ID, ev,
		func(r *policy.Runner) { r.AddDREvent(ev) },
		func(s SiteControls) error { return s.AddDREvent(ctx, ev) })
}

// CancelDR removes a demand-response event.
func (c *Controller) CancelDR(ctx context.Context, actor, id string) error {
	return c.siteControl(ctx, actor, KindDRCancelled, id, nil,
		func(r *policy.Runner) { r.RemoveDREvent(id) },
		func(s SiteControls) error { return s.RemoveDREvent(ctx, id) })
}

func (c *Controller) connected(worker string) bool {
	for _, w := range c.px.Identities() {
		if w.Worker == worker {
			return true
		}
	}
	return false
}

// PauseWorker puts an operator hold on a connected worker: its gate closes at once and stays
// closed until ResumeWorker, whatever the policy restores; a worker the policy controls is
// also paused through its firmware (the engine pauses it for operator_hold). The hold is by
// worker name, survives reconnects and, through the audit trail, restarts.
func (c *Controller) PauseWorker(ctx context.Context, actor, worker string) error {
	if !c.connected(worker) {
		return ErrNotFound
	}
	if err := c.record(ctx, actor, KindPauseWorker, worker, nil); err != nil {
		return err
	}
	c.operatorHold(worker, true)
	return nil
}

// ResumeWorker lifts the operator hold. The gate opens only if no other hold remains: a
// worker the policy has shed stays gated until the policy restores it.
func (c *Controller) ResumeWorker(ctx context.Context, actor, worker string) error {
	if !c.connected(worker) {
		return ErrNotFound
	}
	if err := c.record(ctx, actor, KindResumeWorker, worker, nil); err != nil {
		return err
	}
	c.operatorHold(worker, false)
	return nil
}

func (c *Controller) operatorHold(worker string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.minerLocked(worker)
	h := m.holds &^ HoldOperator
	if on {
		h |= HoldOperator
	}
	if h != m.holds {
		c.setHoldsLocked(worker, m, h, c.clk.Now())
	}
}

// replayManual puts the audit trail's operator controls back in force, oldest first; it
// returns how many records it read.
func (c *Controller) replayManual(ctx context.Context) (int, error) {
	var all []store.Event
	for _, k := range manualKinds {
		var before int64
		for {
			page, err := c.st.Events(ctx, store.EventQuery{Kind: k, Page: store.Page{Before: before, Limit: store.MaxPageLimit}})
			if err != nil {
				return 0, err
			}
			all = append(all, page...)
			if len(page) < store.MaxPageLimit {
				break
			}
			before = page[len(page)-1].ID
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	now := c.clk.Now()
	r := c.runner
	for _, e := range all {
		switch e.Kind {
		case KindPauseWorker:
			c.operatorHold(e.Subject, true)
		case KindResumeWorker:
			c.operatorHold(e.Subject, false)
		case KindPowerProfile:
			var pd profileDetail
			if json.Unmarshal(e.Detail, &pd) == nil && pd.Watts >= 0 {
				c.mu.Lock()
				c.minerLocked(e.Subject).opLocked().profile = pd.Watts
				c.mu.Unlock()
			}
		}
		if r == nil {
			continue
		}
		switch e.Kind {
		case KindCap:
			var cd capDetail
			if json.Unmarshal(e.Detail, &cd) == nil && cd.Until.After(now) {
				r.SetCap(cd.KW, cd.Until)
			}
		case KindCapCleared:
			r.ClearCap()
		case KindPauseGroup:
			r.PauseGroup(e.Subject)
		case KindResumeGroup:
			r.ResumeGroup(e.Subject)
		case KindDRScheduled:
			var ev policy.DREvent
			if json.Unmarshal(e.Detail, &ev) == nil && ev.End.After(now) {
				r.AddDREvent(ev)
			}
		case KindDRCancelled:
			r.RemoveDREvent(e.Subject)
		}
	}
	return len(all), nil
}
