package alert

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
)

// ErrNoSource is returned by New without a Source.
var ErrNoSource = errors.New("alert: a Source is required")

// Source reads the running components. Snapshot is called from the Engine's goroutine once
// per check_interval; it should return within ctx's deadline (the store's write probe is
// the one call that may wait on the disk).
type Source interface {
	Snapshot(ctx context.Context) Snapshot
}

// Options are the Engine's collaborators. Zero fields have the stated defaults.
type Options struct {
	// Logger receives alert transitions and delivery failures; the zero value discards them.
	Logger zerolog.Logger
	// Clock drives checks, hold times, repeats and retry back-off; nil means clock.Real.
	Clock clock.Clock
}

// Alert is one firing (or, in a resolved notification, ended) alert.
type Alert struct {
	Name     string            `json:"name"`
	Severity Severity          `json:"severity"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Summary is one line; Description says what is wrong with the numbers behind it.
	Summary     string `json:"summary"`
	Description string `json:"description"`
	// Since is when the condition began; FiringSince is when it had held long enough to fire.
	Since       time.Time `json:"since"`
	FiringSince time.Time `json:"firing_since"`
	// Ended is when the condition stopped holding; zero while firing.
	Ended time.Time `json:"ended,omitzero"`
}

// instance is the state of one alert (name and labels) whose condition holds or held.
type instance struct {
	alert  Alert
	firing bool
	sentAt time.Time // last notification: firing or repeat
}

// Engine evaluates the alert conditions and notifies the webhooks. It is the one owner of
// alert state: the maps below belong to Run's goroutine; Active reads a published copy.
type Engine struct {
	cfg      Config
	src      Source
	log      zerolog.Logger
	clk      clock.Clock
	hooks    []*webhook
	instance string

	conds  conditions
	state  map[string]*instance
	latest atomic.Pointer[Report]

	runOnce sync.Once
}

// New validates cfg and builds an Engine; Run starts it.
func New(cfg Config, src Source, opts Options) (*Engine, error) {
	if src == nil {
		return nil, ErrNoSource
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	e := &Engine{cfg: cfg, src: src, clk: opts.Clock, instance: cfg.Instance,
		log:   opts.Logger.With().Str("component", "alert").Logger(),
		conds: conditions{cfg: cfg}, state: make(map[string]*instance)}
	if e.instance == "" {
		e.instance, _ = os.Hostname()
	}
	for i, w := range cfg.Webhooks {
		e.hooks = append(e.hooks, newWebhook(w.withDefaults(i), cfg.Queue, e.clk, e.log))
	}
	e.latest.Store(&Report{Firing: []Alert{}})
	return e, nil
}

// Run checks every check_interval (the first at once) and delivers notifications until ctx
// ends; then it stops the senders, abandoning what they still hold, and returns. It runs
// once; later calls return at once.
func (e *Engine) Run(ctx context.Context) {
	e.runOnce.Do(func() { e.run(ctx) })
}

func (e *Engine) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, h := range e.hooks {
		wg.Go(func() { h.run(ctx) })
	}
	defer wg.Wait()
	t := e.clk.NewTicker(e.cfg.CheckInterval.D())
	defer t.Stop()
	for {
		e.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// probeWait bounds one Snapshot when check_interval is longer.
const probeWait = 10 * time.Second

// check reads a snapshot, moves every alert through pending, firing and resolved, and
// queues the notifications that go with each change.
func (e *Engine) check(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, min(e.cfg.CheckInterval.D(), probeWait))
	snap := e.src.Snapshot(sctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: a failed probe now is not the store failing
	}
	now := e.clk.Now()
	seen := make(map[string]bool)
	for _, f := range e.conds.evaluate(now, &snap) {
		k := f.key()
		seen[k] = true
		in := e.state[k]
		if in == nil {
			in = &instance{alert: Alert{Name: f.name, Severity: f.sev, Labels: f.labels, Since: now}}
			e.state[k] = in
		}
		in.alert.Summary, in.alert.Description = f.summary, f.description
		switch {
		case !in.firing && now.Sub(in.alert.Since) >= f.hold:
			in.firing, in.sentAt, in.alert.FiringSince = true, now, now
			e.logAlert(in.alert, "alert firing")
			e.notify(notification{Status: statusFiring, Alert: in.alert})
		case in.firing && e.cfg.RepeatInterval > 0 && now.Sub(in.sentAt) >= e.cfg.RepeatInterval.D():
			in.sentAt = now
			e.notify(notification{Status: statusFiring, Repeat: true, Alert: in.alert})
		}
	}
	for k, in := range e.state {
		if seen[k] {
			continue
		}
		delete(e.state, k)
		if in.firing {
			in.alert.Ended = now
			e.log.Info().Str("alert", in.alert.Name).Fields(labelFields(in.alert.Labels)).
				Dur("fired_for", now.Sub(in.alert.FiringSince)).Msg("alert resolved")
			e.notify(notification{Status: statusResolved, Alert: in.alert})
		}
	}
	e.publish(now)
}

func (e *Engine) logAlert(a Alert, msg string) {
	e.log.Warn().Str("alert", a.Name).Str("severity", a.Severity.String()).Fields(labelFields(a.Labels)).
		Str("description", a.Description).Msg(msg)
}

func labelFields(l map[string]string) map[string]any {
	out := make(map[string]any, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// notify hands n to every webhook whose min_severity it meets; it never waits.
func (e *Engine) notify(n notification) {
	n.Instance = e.instance
	n.Alert.Labels = maps.Clone(n.Alert.Labels)
	for _, h := range e.hooks {
		if n.Alert.Severity >= h.cfg.MinSeverity {
			h.enqueue(n)
		}
	}
}

// Report is the outcome of the latest check.
type Report struct {
	// At is when the check ran; zero before the first. A console can tell from it that
	// checks stopped.
	At time.Time `json:"checked_at"`
	// Firing are the firing alerts, most severe first, then by name and labels.
	Firing []Alert `json:"alerts"`
}

// publish stores the check's outcome for Latest.
func (e *Engine) publish(now time.Time) {
	keys := make([]string, 0, len(e.state))
	for k, in := range e.state {
		if in.firing {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(e.state[b].alert.Severity, e.state[a].alert.Severity), strings.Compare(a, b))
	})
	out := make([]Alert, len(keys))
	for i, k := range keys {
		out[i] = e.state[k].alert
		out[i].Labels = maps.Clone(out[i].Labels)
	}
	e.latest.Store(&Report{At: now, Firing: out})
}

// Latest returns the latest check's outcome. The result is the caller's.
func (e *Engine) Latest() Report {
	r := *e.latest.Load()
	r.Firing = slices.Clone(r.Firing)
	for i := range r.Firing {
		r.Firing[i].Labels = maps.Clone(r.Firing[i].Labels)
	}
	return r
}

// Drops returns the notifications dropped from full webhook queues, for
// hashgate_queue_drops_total; nil without webhooks.
func (e *Engine) Drops() map[string]uint64 {
	if len(e.hooks) == 0 {
		return nil
	}
	var n uint64
	for _, h := range e.hooks {
		n += h.dropped.Load()
	}
	return map[string]uint64{dropQueueFull: n}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.Sort(keys)
	return keys
}
