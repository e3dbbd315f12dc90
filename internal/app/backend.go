package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// backend is what the console reads and steers: snapshots from the proxy and the policy
// runner, the store's audit trail, and the manual controls, each of which is recorded in the
// store with the actor who used it.
type backend struct{ a *App }

var _ console.Backend = backend{}

func (b backend) Status() proxy.Status         { return b.a.Proxy.Status() }
func (b backend) Workers() []proxy.WorkerStats { return b.a.Proxy.Workers() }
func (b backend) Pools() []proxy.PoolStats     { return b.a.Proxy.Pools() }
func (b backend) Fleet() []policy.FleetGroup   { return b.a.cfg.Fleet }

func (b backend) Policy() (policy.Snapshot, bool) {
	if b.a.Power == nil {
		return policy.Snapshot{}, false
	}
	return b.a.Power.runner.Snapshot(), true
}

func (b backend) Meters() []console.MeterStatus {
	if b.a.Power == nil {
		return nil
	}
	return b.a.Power.meterStatus(time.Now(), b.a.cfg.Policy.StaleAfter.D())
}

func (b backend) FirmwareResults() []console.FirmwareResult {
	if b.a.Power == nil {
		return nil
	}
	return b.a.Power.firmwareResults()
}

func (b backend) Decisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	return b.a.Store.Decisions(ctx, q)
}

func (b backend) Events(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	return b.a.Store.Events(ctx, q)
}

func (b backend) Subscribe(capacity int) console.Subscription {
	if b.a.Power == nil {
		return nil
	}
	return b.a.Power.runner.Subscribe(capacity)
}

func (b backend) MeterPush(name string) http.Handler {
	if b.a.Power == nil {
		return nil
	}
	for _, m := range b.a.Power.Meters {
		if h, ok := m.(http.Handler); ok && m.Name() == name {
			return h
		}
	}
	return nil
}

// audit records a manual action durably before it takes effect.
func (b backend) audit(ctx context.Context, actor, kind, subject string, detail any) error {
	d, _ := json.Marshal(detail)
	_, err := b.a.Store.RecordEvent(ctx, store.Event{Time: time.Now(), Kind: kind, Subject: subject, Detail: d, Actor: actor})
	return err
}

func (b backend) runner() (*policy.Runner, error) {
	if b.a.Power == nil {
		return nil, console.ErrUnavailable
	}
	return b.a.Power.runner, nil
}

func (b backend) SetCap(ctx context.Context, actor string, kw float64, until time.Time) error {
	r, err := b.runner()
	if err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.cap", "", map[string]any{"kw": kw, "until": until}); err != nil {
		return err
	}
	r.SetCap(kw, until)
	return nil
}

func (b backend) ClearCap(ctx context.Context, actor string) error {
	r, err := b.runner()
	if err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.cap_cleared", "", nil); err != nil {
		return err
	}
	r.ClearCap()
	return nil
}

func (b backend) group(name string) error {
	for _, g := range b.a.cfg.Fleet {
		if g.Name == name {
			return nil
		}
	}
	return console.ErrNotFound
}

func (b backend) PauseGroup(ctx context.Context, actor, group string) error {
	r, err := b.runner()
	if err != nil {
		return err
	}
	if err := b.group(group); err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.pause_group", group, nil); err != nil {
		return err
	}
	r.PauseGroup(group)
	return nil
}

func (b backend) ResumeGroup(ctx context.Context, actor, group string) error {
	r, err := b.runner()
	if err != nil {
		return err
	}
	if err := b.group(group); err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.resume_group", group, nil); err != nil {
		return err
	}
	r.ResumeGroup(group)
	return nil
}

func (b backend) ScheduleDR(ctx context.Context, actor string, ev policy.DREvent) error {
	r, err := b.runner()
	if err != nil {
		return err
	}
	if ev.ID == "" || !ev.End.After(ev.Start) || ev.TargetKW < 0 {
		return errors.New("a demand-response event needs an id, an end after its start and a target >= 0")
	}
	if err := b.audit(ctx, actor, "manual.dr_scheduled", ev.ID, ev); err != nil {
		return err
	}
	r.AddDREvent(ev)
	return nil
}

func (b backend) CancelDR(ctx context.Context, actor, id string) error {
	r, err := b.runner()
	if err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.dr_cancelled", id, nil); err != nil {
		return err
	}
	r.RemoveDREvent(id)
	return nil
}

func (b backend) worker(name string) error {
	for _, w := range b.a.Proxy.Identities() {
		if w.Worker == name {
			return nil
		}
	}
	return console.ErrNotFound
}

func (b backend) PauseWorker(ctx context.Context, actor, worker string) error {
	if err := b.worker(worker); err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.pause_worker", worker, nil); err != nil {
		return err
	}
	b.a.Proxy.Pause(worker)
	return nil
}

func (b backend) ResumeWorker(ctx context.Context, actor, worker string) error {
	if err := b.worker(worker); err != nil {
		return err
	}
	if err := b.audit(ctx, actor, "manual.resume_worker", worker, nil); err != nil {
		return err
	}
	b.a.Proxy.Resume(worker)
	return nil
}
