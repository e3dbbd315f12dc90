package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrRunning is returned by Run when the Runner is already running or has run.
var ErrRunning = errors.New("policy: runner already started")

// ErrActuatorPanic wraps a panic recovered from an Actuator.
var ErrActuatorPanic = errors.New("policy: actuator panicked")

// ErrNoActuator is returned by NewRunner without an Actuator.
var ErrNoActuator = errors.New("policy: runner needs an actuator")

const recentDecisions = 64 // decisions kept for Snapshot

// RunnerOptions are the Runner's collaborators. Nil fields have the stated defaults.
type RunnerOptions struct {
	Clock    Clock          // nil: SystemClock()
	Actuator Actuator       // required
	Audit    Audit          // nil: no audit trail
	Logger   zerolog.Logger // zero value discards, like zerolog.Nop()
}

// Runner owns time and I/O around the engine: it steps the engine every interval and on every
// new reading or operator change, applies decisions through the Actuator, and publishes a
// Snapshot, an event stream and an audit trail. All methods are safe for concurrent use.
type Runner struct {
	cfg   Config
	clock Clock
	act   Actuator
	audit Audit
	log   zerolog.Logger

	mu       sync.Mutex // guards the fields below and engine
	engine   *Engine
	readings Readings
	fleet    []Miner
	index    map[string]int
	ctl      map[string]*minerCtl
	manual   Manual
	basis    Basis
	recent   []Decision
	urgent   []string // miners with a pending shed, in decision order
	normal   []string // miners with another pending decision
	inflight int
	steps    uint64
	applied  uint64
	failed   uint64

	kick      chan struct{}
	results   chan applyResult
	hub       hub
	auditMu   sync.Mutex
	auditBuf  []auditItem // bounded by maxAuditBacklog; drained whole by the writer
	auditSig  chan struct{}
	auditStop bool
	auditDr   atomic.Uint64
	started   atomic.Bool
	workers   sync.WaitGroup
}

// minerCtl is the Runner's actuation bookkeeping for one miner.
type minerCtl struct {
	pending Decision
	has     bool
	// newAction: the pending decision changes the miner's action, so its dwell time
	// (min_run, min_pause) starts when it is sent.
	newAction bool
	// gone is the command of a miner removed while its command was in flight (hasGone).
	gone     Command
	hasGone  bool
	inflight bool
	failures int // in a row, whatever the command: the back-off
	// shedFails counts the sheds failed in a row since the last success or failed restore:
	// a shed is taken as refused on its own second failure, not because a restore failed
	// before it.
	shedFails int
	retryAt   time.Time
	lastErr   string
}

type applyResult struct {
	d   Decision
	err error
}

type auditItem struct {
	step  bool
	basis Basis
	ds    []Decision
	notes []Note
	ev    Event
}

// NewRunner validates cfg and builds a Runner; call Run to start it.
func NewRunner(cfg Config, opts RunnerOptions) (*Runner, error) {
	eng, err := NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Actuator == nil {
		return nil, ErrNoActuator
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	return &Runner{
		cfg: cfg, clock: opts.Clock, act: opts.Actuator, audit: opts.Audit,
		log:    opts.Logger.With().Str("component", "policy").Logger(),
		engine: eng, index: make(map[string]int), ctl: make(map[string]*minerCtl),
		kick:     make(chan struct{}, 1),
		results:  make(chan applyResult, cfg.MaxParallel),
		auditSig: make(chan struct{}, 1),
	}, nil
}

// Observe records a meter reading and triggers a step. An older reading than the one held for
// its role is ignored. A meter that answered with an unusable value should be reported with a
// NaN Value: the engine then treats the meter as faulty instead of merely late.
func (r *Runner) Observe(rd Reading) {
	r.mu.Lock()
	ok := r.readings.Set(rd)
	r.mu.Unlock()
	if ok {
		r.trigger()
	}
}

// UpsertMiner adds a miner or updates its static fields (worker, group, priority, ratings,
// throttle range). The commanded state of a known miner is kept; a new miner with a zero
// Commanded is unknown and assumed at full power until the engine commands it.
func (r *Runner) UpsertMiner(m Miner) {
	r.mu.Lock()
	if i, ok := r.index[m.ID]; ok {
		old := &r.fleet[i]
		m.Commanded, m.MeasuredKW, m.MeasuredAt = old.Commanded, old.MeasuredKW, old.MeasuredAt
		*old = m
	} else {
		// A miner that disconnected and came back keeps its control state: a command still
		// in flight for it must not be joined by a second one, and it is what the miner is
		// being told.
		if c := r.ctl[m.ID]; c == nil {
			r.ctl[m.ID] = &minerCtl{}
		} else if c.hasGone {
			m.Commanded, c.hasGone = c.gone, false
		}
		r.index[m.ID] = len(r.fleet)
		r.fleet = append(r.fleet, m)
	}
	r.mu.Unlock()
	r.trigger()
}

// RemoveMiner forgets a miner (disconnected and no longer controllable).
func (r *Runner) RemoveMiner(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.index[id]
	if !ok {
		return
	}
	removed := r.fleet[i].Commanded
	last := len(r.fleet) - 1
	r.fleet[i] = r.fleet[last]
	r.index[r.fleet[i].ID] = i
	r.fleet = r.fleet[:last]
	delete(r.index, id)
	if c := r.ctl[id]; c != nil && !c.inflight {
		delete(r.ctl, id)
	} else if c != nil {
		// Its command is in flight: if it reconnects before that returns, it comes back
		// with this command, not with whatever the caller last saw applied.
		c.has, c.gone, c.hasGone = false, removed, true
	}
}

// ObservePower records a miner's measured draw (firmware telemetry or PDU outlet).
func (r *Runner) ObservePower(id string, kw float64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.index[id]; ok && at.After(r.fleet[i].MeasuredAt) {
		r.fleet[i].MeasuredKW, r.fleet[i].MeasuredAt = kw, at
	}
}

// SetCap limits total mining power to kw until the given time.
func (r *Runner) SetCap(kw float64, until time.Time) {
	r.mu.Lock()
	r.manual.CapKW, r.manual.CapUntil = kw, until
	r.mu.Unlock()
	r.trigger()
}

// ClearCap removes the operator cap.
func (r *Runner) ClearCap() { r.SetCap(0, time.Time{}) }

// PauseGroup keeps every miner of the group off until ResumeGroup.
func (r *Runner) PauseGroup(name string) {
	r.mu.Lock()
	if !slices.Contains(r.manual.PausedGroups, name) {
		r.manual.PausedGroups = append(slices.Clip(r.manual.PausedGroups), name)
	}
	r.mu.Unlock()
	r.trigger()
}

// ResumeGroup lets a paused group run again (paced like any restore).
func (r *Runner) ResumeGroup(name string) {
	r.mu.Lock()
	r.manual.PausedGroups = slices.DeleteFunc(slices.Clone(r.manual.PausedGroups), func(g string) bool { return g == name })
	r.mu.Unlock()
	r.trigger()
}

// AddDREvent schedules a demand-response event, replacing one with the same ID.
func (r *Runner) AddDREvent(ev DREvent) {
	r.mu.Lock()
	dr := slices.DeleteFunc(slices.Clone(r.manual.DR), func(e DREvent) bool { return e.ID == ev.ID })
	r.manual.DR = append(dr, ev)
	r.mu.Unlock()
	r.trigger()
}

// RemoveDREvent cancels a demand-response event.
func (r *Runner) RemoveDREvent(id string) {
	r.mu.Lock()
	r.manual.DR = slices.DeleteFunc(slices.Clone(r.manual.DR), func(e DREvent) bool { return e.ID == id })
	r.mu.Unlock()
	r.trigger()
}

// DefaultSubscription is the capacity Subscribe gives a stream asked for with none.
const DefaultSubscription = 256

// Subscribe returns a stream of events with room for capacity events (zero or less:
// DefaultSubscription). Each consumer picks its own: the console's feed keeps 1024. A
// consumer that falls behind loses the oldest events, counted by Dropped.
func (r *Runner) Subscribe(capacity int) *Subscription {
	if capacity <= 0 {
		capacity = DefaultSubscription
	}
	return r.hub.subscribe(capacity)
}

func (r *Runner) trigger() {
	select {
	case r.kick <- struct{}{}:
	default: // a step is already due; it will see this change
	}
}

// Run steps the engine until ctx is cancelled, then waits for in-flight actuator calls and
// the audit writer, closes every subscription and returns nil. It can be called once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var auditDone chan struct{}
	if r.audit != nil {
		auditDone = make(chan struct{})
		go r.auditLoop(auditDone)
	}
	defer func() {
		// Commands still in flight finish (their context is cancelled); their results are
		// recorded before the audit writer stops, so the trail misses none of them.
		r.workers.Wait()
		for done := false; !done; {
			select {
			case res := <-r.results:
				r.settle(res)
			default:
				done = true
			}
		}
		r.auditMu.Lock()
		r.auditStop = true
		r.auditMu.Unlock()
		r.signalAudit()
		if auditDone != nil {
			<-auditDone
		}
		r.hub.close()
	}()
	timer := r.clock.NewTimer(r.cfg.Interval.D())
	defer func() { timer.Stop() }()
	r.step(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
			timer = r.clock.NewTimer(r.cfg.Interval.D())
			r.step(ctx)
		case <-r.kick:
			r.step(ctx)
		case res := <-r.results:
			r.finish(ctx, res)
		}
	}
}

// step runs the engine once and queues its decisions.
func (r *Runner) step(ctx context.Context) {
	now := r.clock.Now()
	r.mu.Lock()
	r.manual.DR = slices.DeleteFunc(r.manual.DR, func(e DREvent) bool { return !now.Before(e.End) })
	out := r.engine.Step(Input{Now: now, Readings: r.readings, Fleet: r.fleet, Manual: r.manual})
	r.steps++
	r.basis = out.Basis
	for _, d := range out.Decisions {
		i, ok := r.index[d.MinerID]
		if !ok {
			continue
		}
		m := &r.fleet[i]
		since := m.Commanded.Since
		if d.Action != m.Commanded.Action || since.IsZero() {
			since = now
		}
		// What it drew until now, so the change is not counted before it shows.
		from, _ := DrawKW(&r.cfg, m, now)
		// Optimistic: the engine must not decide the same thing again while it is applied.
		// Pending until the firmware acknowledges it; its ramp (and a new action's dwell
		// time) starts when pump sends it.
		c := r.ctl[d.MinerID]
		c.newAction = c.newAction && c.has || d.Action != m.Commanded.Action
		m.Commanded = Command{Action: d.Action, TargetKW: d.TargetKW, Since: since, Changed: now, FromKW: from, Pending: true}
		c.pending, c.has = d, true
		if d.Shed() {
			r.urgent = append(r.urgent, d.MinerID)
		} else {
			r.normal = append(r.normal, d.MinerID)
		}
	}
	r.recent = append(r.recent, out.Decisions...)
	if n := len(r.recent); n > recentDecisions {
		r.recent = append(r.recent[:0], r.recent[n-recentDecisions:]...)
	}
	r.mu.Unlock()
	if pl, ok := r.act.(Planner); ok && len(out.Decisions) > 0 {
		pl.Plan(out.Decisions)
	}

	for _, n := range out.Notes {
		r.logNote(n, out.Basis)
		r.hub.publish(Event{At: now, Kind: EventNote, Note: n})
	}
	for _, d := range out.Decisions {
		r.hub.publish(Event{At: now, Kind: EventDecision, Decision: d})
	}
	if len(out.Decisions) > 0 || len(out.Notes) > 0 {
		r.log.Info().Int("decisions", len(out.Decisions)).Stringer("mode", out.Basis.Mode).
			Stringer("binding", out.Basis.Binding).Float64("budget_kw", out.Basis.BudgetKW).
			Float64("import_kw", out.Basis.ImportKW).Msg("policy step")
		r.enqueueAudit(auditItem{step: true, basis: out.Basis, ds: out.Decisions, notes: out.Notes})
	}
	r.pump(ctx, now)
}

func (r *Runner) logNote(n Note, b Basis) {
	ev := r.log.Info()
	switch n.Kind {
	case NoteMeterFault, NoteShedUnconfirmed:
		ev = r.log.Warn()
	}
	ev.Stringer("note", n.Kind).Stringer("role", n.Role).Stringer("fault", n.Fault).
		Stringer("mode", b.Mode).Float64("kw", n.KW).Msg("policy note")
}

// pump starts actuator calls up to max_parallel, sheds first.
func (r *Runner) pump(ctx context.Context, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range []*[]string{&r.urgent, &r.normal} {
		kept := (*q)[:0]
		for _, id := range *q {
			c := r.ctl[id]
			switch {
			case c == nil || !c.has:
				continue // superseded and already sent, or miner removed
			case c.inflight || now.Before(c.retryAt) || r.inflight >= r.cfg.MaxParallel:
				kept = append(kept, id)
				continue
			}
			d := c.pending
			c.has, c.inflight = false, true
			if i, ok := r.index[id]; ok {
				m := &r.fleet[i]
				// Its ramp starts now; it stays pending until the firmware acknowledges it.
				m.Commanded.Changed = now
				if c.newAction {
					m.Commanded.Since = now
				}
			}
			c.newAction = false
			r.inflight++
			r.workers.Add(1)
			go r.apply(ctx, d)
		}
		clear((*q)[len(kept):])
		*q = kept
	}
}

func (r *Runner) apply(ctx context.Context, d Decision) {
	defer r.workers.Done()
	actx, cancel := context.WithTimeout(ctx, r.cfg.ApplyTimeout.D())
	var err error
	defer func() {
		cancel()
		if p := recover(); p != nil { // one broken driver must not take the site down
			err = fmt.Errorf("%w: %v", ErrActuatorPanic, p)
		}
		r.results <- applyResult{d: d, err: err} // buffered for max_parallel: never blocks
	}()
	err = r.act.Apply(actx, d)
}

// finish records an actuator result and starts whatever was waiting.
func (r *Runner) finish(ctx context.Context, res applyResult) {
	r.pump(ctx, r.settle(res))
}

// settle records one actuator result: the miner's bookkeeping, the event and its audit.
func (r *Runner) settle(res applyResult) time.Time {
	now := r.clock.Now()
	id := res.d.MinerID
	r.mu.Lock()
	r.inflight--
	c := r.ctl[id]
	_, known := r.index[id]
	if c != nil {
		c.inflight = false
		if res.err == nil {
			retried := c.shedFails > 0 && res.d.Shed()
			c.failures, c.shedFails, c.lastErr, c.retryAt = 0, 0, "", time.Time{}
			if i, ok := r.index[id]; ok && !c.has {
				// Acknowledged: its ramp may now end. A shed that landed on a retry started
				// when that try was sent (Changed): the firmware may not have taken the
				// first, and min_pause protects the miner from a power cycle counted from a
				// sleep that never happened. Only a landed try moves it: a sleep refused
				// for good keeps its first, or its power stays reserved past min_pause.
				if retried {
					r.fleet[i].Commanded.Since = r.fleet[i].Commanded.Changed
				}
				r.fleet[i].Commanded.Pending, r.fleet[i].Commanded.Refused = false, false
			}
		} else {
			c.failures++
			c.lastErr = res.err.Error()
			c.retryAt = now.Add(min(time.Second<<min(c.failures, 5), 30*time.Second))
			if i, ok := r.index[id]; ok && !c.has {
				if res.d.Shed() {
					// A failed shed is sent again after its back-off, and until it is
					// confirmed the miner counts as drawing what it drew before. It never
					// turns into a run: the firmware may have slept and only its answer
					// been lost, and waking it would power-cycle it inside min_pause.
					// Refused twice in a row, its draw is counted in the budget, so others
					// are shed in its place.
					c.shedFails++
					r.fleet[i].Commanded.Pending = true
					r.fleet[i].Commanded.Refused = r.fleet[i].Commanded.Refused || c.shedFails >= 2
					c.pending, c.has = res.d, true
				} else {
					// A failed restore: nobody knows what the miner does now; the engine
					// assumes full power and decides it again at once.
					c.shedFails = 0
					r.fleet[i].Commanded = Command{Action: ActionUnknown, Since: now}
				}
			}
		}
		if c.has { // a newer decision waited for this one
			if c.pending.Shed() {
				r.urgent = append(r.urgent, id)
			} else {
				r.normal = append(r.normal, id)
			}
		}
		if !known && !c.has {
			delete(r.ctl, id)
		}
	}
	ev := Event{At: now, Kind: EventApplied, Decision: res.d}
	if res.err != nil {
		r.failed++
		ev.Kind, ev.Err = EventApplyFailed, res.err.Error()
	} else {
		r.applied++
	}
	r.mu.Unlock()
	if res.err != nil {
		r.log.Warn().Str("miner", id).Stringer("action", res.d.Action).Err(res.err).Msg("policy apply failed")
		r.trigger() // let the engine re-decide the now unknown miner
	}
	ev = r.hub.publish(ev)
	r.enqueueAudit(auditItem{ev: ev})
	return now
}

// maxAuditBacklog bounds the audit backlog. The writer drains the whole backlog in one batch
// per round, so it only fills if the store stops answering for a long time; then the oldest
// items are dropped and counted (Snapshot.AuditDropped), never the control loop delayed.
const maxAuditBacklog = 1 << 20

// BatchAudit is an Audit that can store a round's decisions and events together (one
// transaction): the Runner uses it when the Audit implements it, which keeps the trail
// complete through a 10,000-miner shed.
type BatchAudit interface {
	Audit
	RecordBatch(ctx context.Context, ds []Decision, evs []Event) error
}

// enqueueAudit hands an item to the audit writer without blocking.
func (r *Runner) enqueueAudit(it auditItem) {
	if r.audit == nil {
		return
	}
	r.auditMu.Lock()
	if len(r.auditBuf) >= maxAuditBacklog {
		r.auditBuf = r.auditBuf[1:]
		r.auditDr.Add(1)
	}
	r.auditBuf = append(r.auditBuf, it)
	r.auditMu.Unlock()
	r.signalAudit()
}

func (r *Runner) signalAudit() {
	select {
	case r.auditSig <- struct{}{}:
	default:
	}
}

func (r *Runner) auditLoop(done chan<- struct{}) {
	defer close(done)
	ctx := context.Background()
	for range r.auditSig {
		r.auditMu.Lock()
		items, stop := r.auditBuf, r.auditStop
		r.auditBuf = nil
		r.auditMu.Unlock()
		if len(items) > 0 {
			if err := r.writeAudit(ctx, items); err != nil {
				r.log.Warn().Err(err).Int("items", len(items)).Msg("policy audit write failed")
			}
		}
		if stop {
			r.auditMu.Lock()
			rest := r.auditBuf
			r.auditBuf = nil
			r.auditMu.Unlock()
			if len(rest) > 0 {
				if err := r.writeAudit(ctx, rest); err != nil {
					r.log.Warn().Err(err).Int("items", len(rest)).Msg("policy audit write failed")
				}
			}
			return
		}
	}
}

func (r *Runner) writeAudit(ctx context.Context, items []auditItem) error {
	if ba, ok := r.audit.(BatchAudit); ok {
		var ds []Decision
		var evs []Event
		for _, it := range items {
			if it.step {
				ds = append(ds, it.ds...)
				for _, n := range it.notes {
					evs = append(evs, Event{At: it.basis.At, Kind: EventNote, Note: n})
				}
			} else {
				evs = append(evs, it.ev)
			}
		}
		return ba.RecordBatch(ctx, ds, evs)
	}
	var first error
	for _, it := range items {
		var err error
		if it.step {
			for _, d := range it.ds {
				if err = r.audit.RecordDecision(ctx, d); err != nil {
					break
				}
			}
			for _, n := range it.notes {
				if err != nil {
					break
				}
				err = r.audit.RecordEvent(ctx, Event{At: it.basis.At, Kind: EventNote, Note: n})
			}
		} else {
			err = r.audit.RecordEvent(ctx, it.ev)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// MinerStatus is one miner in a Snapshot.
type MinerStatus struct {
	Miner
	Inflight bool   // an actuator call is running
	Pending  bool   // a decision waits to be applied
	Failures int    // consecutive actuator failures
	LastErr  string // the last actuator error
}

// Snapshot is the Runner's state for the console.
type Snapshot struct {
	Basis        Basis // the last step: budget, import, mode, faults
	Manual       Manual
	Miners       []MinerStatus // sorted by ID
	Recent       []Decision    // the latest decisions, oldest first
	Steps        uint64
	Applied      uint64
	ApplyFailed  uint64
	AuditDropped uint64
}

// AuditDropped counts audit records dropped because the backlog was full (the store stopped
// answering for long), for /metrics, without copying the fleet as Snapshot does.
func (r *Runner) AuditDropped() uint64 { return r.auditDr.Load() }

// Basis returns the inputs of the latest step (budget, import, mode) without copying the
// fleet, for callers that poll it often.
func (r *Runner) Basis() Basis {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.basis
}

// Snapshot returns a copy of the current state.
func (r *Runner) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{
		Basis: r.basis, Recent: slices.Clone(r.recent),
		Steps: r.steps, Applied: r.applied, ApplyFailed: r.failed, AuditDropped: r.auditDr.Load(),
		Manual: Manual{CapKW: r.manual.CapKW, CapUntil: r.manual.CapUntil,
			PausedGroups: slices.Clone(r.manual.PausedGroups), DR: slices.Clone(r.manual.DR)},
		Miners: make([]MinerStatus, len(r.fleet)),
	}
	for i, m := range r.fleet {
		st := MinerStatus{Miner: m}
		if c := r.ctl[m.ID]; c != nil {
			st.Inflight, st.Pending, st.Failures, st.LastErr = c.inflight, c.has, c.failures, c.lastErr
		}
		s.Miners[i] = st
	}
	slices.SortFunc(s.Miners, func(a, b MinerStatus) int { return strings.Compare(a.ID, b.ID) })
	return s
}
