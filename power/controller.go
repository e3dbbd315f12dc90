package power

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// Sentinel errors.
var (
	// ErrRunning is returned by Run when the Controller already runs or ran.
	ErrRunning = errors.New("power: controller already started")
	// ErrNoPolicy is returned by the policy's operator controls when no [policy] is configured.
	ErrNoPolicy = errors.New("power: no [policy] configured")
	// ErrNotFound is returned by an operator control whose worker, group or event is unknown.
	ErrNotFound = errors.New("power: not found")
	// ErrNoProxy is returned by New without a proxy.
	ErrNoProxy = errors.New("power: controller needs the proxy")
)

// Options are the Controller's collaborators. Nil fields have the stated defaults.
type Options struct {
	// Policy is the [policy] table; nil runs no policy, and the Controller then only keeps
	// operator holds on the gate.
	Policy *policy.Config
	// Fleet are the [[fleet]] groups; Meters the [[meter]] sections (used with a Policy).
	Fleet  []policy.FleetGroup
	Meters []meter.Config
	// Proxy is the gate (required).
	Proxy *proxy.Proxy
	// Store keeps the audit trail, the energy ledger and what a restart resumes; nil keeps
	// nothing.
	Store *store.Store
	// Firmware holds the drivers; nil builds a registry with firmware.DefaultConfig driven by
	// Clock.
	Firmware *firmware.Registry
	// Clock is the one time source of the Controller, its Runner, meters, poller and (unless
	// Firmware is given) firmware drivers; nil is clock.Real.
	Clock clock.Clock
	// Logger receives the Controller's logs; the zero value discards them.
	Logger zerolog.Logger
	// Sink, with a Policy, takes the inventory, telemetry and meter readings instead of a
	// Runner of the Controller's own: the site's policy then runs elsewhere (cluster.Node) and
	// reaches this Controller through Plan and Apply. Nil runs the Policy here.
	Sink Sink
}

// Sink is what the Controller feeds: its policy Runner, or a cluster node that carries the
// feed to the site's leader.
type Sink interface {
	UpsertMiner(m policy.Miner)
	RemoveMiner(id string)
	ObservePower(id string, kw float64, at time.Time)
	Observe(r policy.Reading)
}

var _ Sink = (*policy.Runner)(nil)

// Controller is the one owner of per-miner control state. It keeps the fleet inventory
// (connected workers matched to [[fleet]] groups), the holds on each worker's proxy gate by
// reason, the evidence that a session is a real miner, and the feed of meter readings and
// firmware telemetry into the policy Runner, whose only Actuator it is. Commands in flight stay
// in the Runner. Nothing on its control paths (meter feed, Plan, Apply) writes to disk: the
// energy ledger goes through a bounded queue to its own writer, and the Runner's audit trail
// has its own writer.
type Controller struct {
	cfg    Config
	px     *proxy.Proxy
	st     *store.Store
	groups []policy.FleetGroup
	fw     *firmware.Registry
	clk    clock.Clock
	log    zerolog.Logger
	runner *policy.Runner // nil without a policy, or with Options.Sink
	sink   Sink           // the runner or Options.Sink; nil without a policy
	poller *Poller        // nil without a policy
	// meters are the running meter sources (push sources are mounted by the console).
	meters     []meter.Source
	staleAfter time.Duration

	energy      chan store.EnergyInterval
	energyDrops atomic.Uint64
	energyErrs  atomic.Uint64
	commands    atomic.Uint64 // firmware commands handed to a driver
	gated       atomic.Int64  // workers whose gate the Controller holds closed
	started     atomic.Bool

	mu     sync.Mutex
	miners map[string]*miner // by worker name
	meterS map[string]*meterState
	fwRes  map[fwKey]uint64
	// warned remembers what was already warned about (a worker matching no fleet group,
	// workers sharing an IP) and when its worker was last seen connected, for pruning.
	warned map[string]time.Time

	// forgotten are workers the inventory forgot whose stored last state the store writer has
	// yet to delete (at most forgetQueue; beyond it a worker is dropped and counted,
	// power_forget_full, and its row is forgotten after the next start instead).
	forgotten   []store.Forget
	forgetWake  chan struct{}
	forgetDrops atomic.Uint64
}

var (
	_ policy.Actuator = (*Controller)(nil)
	_ policy.Planner  = (*Controller)(nil)
)

// New validates cfg and builds a Controller. Before it returns, the previous run's pauses
// (store.LastStates) and the operator's controls (the audit trail) are in force on the gate,
// so call it before the proxy takes miners: a miner paused before a restart gets no work from
// its first connection. Run starts it.
func New(ctx context.Context, cfg Config, o Options) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Proxy == nil {
		return nil, ErrNoProxy
	}
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	log := o.Logger.With().Str("component", "power").Logger()
	if o.Firmware == nil {
		fwc := firmware.DefaultConfig()
		fwc.Logger = o.Logger.With().Str("component", "firmware").Logger()
		fwc.Clock = firmwareClock{o.Clock}
		var err error
		if o.Firmware, err = firmware.NewRegistry(fwc); err != nil {
			return nil, err
		}
	}
	c := &Controller{
		cfg: cfg, px: o.Proxy, st: o.Store, groups: o.Fleet, fw: o.Firmware, clk: o.Clock, log: log,
		energy: make(chan store.EnergyInterval, cfg.EnergyQueue),
		miners: map[string]*miner{}, meterS: map[string]*meterState{}, fwRes: map[fwKey]uint64{}, warned: map[string]time.Time{},
		forgetWake: make(chan struct{}, 1),
	}
	if o.Policy != nil {
		var err error
		if o.Sink != nil {
			c.sink = o.Sink
		} else {
			ro := policy.RunnerOptions{Actuator: c, Clock: policyClock{o.Clock}, Logger: o.Logger}
			if o.Store != nil {
				ro.Audit = audit{o.Store}
			}
			if c.runner, err = policy.NewRunner(*o.Policy, ro); err != nil {
				return nil, err
			}
			c.sink = c.runner
		}
		c.staleAfter = o.Policy.StaleAfter.D()
		if c.poller, err = NewPoller(cfg.Poller(), c.fw, c.clk, o.Logger); err != nil {
			return nil, err
		}
		for _, mc := range o.Meters {
			src, err := meter.New(mc, o.Logger.With().Str("component", "meter").Logger(), meter.WithClock(meterClock{o.Clock}))
			if err != nil {
				return nil, fmt.Errorf("meter %q: %w", mc.Name, err)
			}
			c.meters = append(c.meters, src)
			c.meterS[mc.Name] = &meterState{cfg: mc, readings: map[string]uint64{}}
		}
	}
	if o.Store != nil {
		if err := c.resume(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// resume puts the previous run's pauses and the operator's controls back in force. With a
// Sink (a clustered instance) too: the site's leader then starts this instance's miners from
// their stored states, and a restart never bursts a shed fleet back to full power.
func (c *Controller) resume(ctx context.Context) error {
	if c.sink != nil {
		last, err := c.st.LastStates(ctx)
		if err != nil {
			return fmt.Errorf("store: last states: %w", err)
		}
		// The last decision may not have been carried out (cut short by the shutdown, or
		// failed). A pause is restored as decided, confirmed or not: its gate stays held and
		// its min_pause runs on, and whatever the miner still draws the site meter sees. A
		// run or throttle is restored only as far as the firmware confirmed it (the newest
		// applied event): a miner believed running while asleep would never be decided again.
		kind := (&policy.Event{Kind: policy.EventApplied}).Name()
		applied, err := c.st.LatestEvents(ctx, kind)
		if err != nil {
			return fmt.Errorf("store: last applied commands: %w", err)
		}
		now := c.clk.Now()
		c.mu.Lock()
		paused := 0
		for id, s := range last {
			// Every stored state gets an entry, used or not, so offline_ttl forgets the
			// state of a worker that does not come back.
			m := c.minerLocked(id)
			a, err := parseAction(s.Action)
			if err != nil {
				continue
			}
			cmd := policy.Command{Action: a, TargetKW: s.TargetKW, Since: s.Time}
			var d policy.DecisionDetail
			ev, ok := applied[id]
			switch {
			case a == policy.ActionPause:
			case !ok || json.Unmarshal(ev.Detail, &d) != nil:
				continue // never confirmed: the policy decides it afresh, as unknown
			case d.Action == s.Action && !ev.Time.Before(s.Time):
				// The last decision was carried out.
			default:
				if a, err = parseAction(d.Action); err != nil {
					continue
				}
				cmd = policy.Command{Action: a, TargetKW: d.TargetKW, Since: ev.Time}
			}
			m.restored = &cmd
			if a == policy.ActionPause {
				c.setHoldsLocked(id, m, m.holds|HoldRestart, now)
				paused++
			}
		}
		c.mu.Unlock()
		if paused > 0 {
			c.log.Info().Int("miners", paused).Msg("miners paused before the restart stay gated until the policy decides them")
		}
	}
	n, err := c.replayManual(ctx)
	if err != nil {
		return fmt.Errorf("store: operator controls: %w", err)
	}
	if n > 0 {
		c.log.Info().Int("controls", n).Msg("operator controls restored from the audit trail")
	}
	return nil
}

func parseAction(s string) (policy.Action, error) {
	for a := policy.ActionUnknown; a <= policy.ActionThrottle; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q", s)
}

// Run runs the Controller until ctx is done: the policy Runner, the meters and their feed,
// the fleet inventory (1 Hz), the telemetry poller and the energy writer. It returns once all
// of them stopped (the energy writer first writes what is queued, for at most
// shutdownWrite). It can be called once.
func (c *Controller) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var wg sync.WaitGroup
	spawn := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	if c.st != nil {
		spawn(func() { c.writeEnergy(ctx) })
		spawn(func() { c.writeForgets(ctx) })
	}
	if c.runner != nil {
		spawn(func() {
			if err := c.runner.Run(ctx); err != nil {
				c.log.Error().Err(err).Msg("policy runner stopped")
			}
		})
	}
	if c.sink != nil {
		readings := make(chan meter.Reading, readingsQueue)
		for _, src := range c.meters {
			spawn(func() {
				if err := src.Run(ctx, readings); err != nil {
					c.log.Error().Err(err).Str("meter", src.Name()).Msg("meter cannot run")
				}
			})
		}
		spawn(func() { c.feed(ctx, readings) })
		spawn(func() { c.syncFleet(ctx) })
		spawn(func() { c.poller.Run(ctx, c.pollTargets, c.report) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// readingsQueue is the capacity of the channel from the meter sources to the feed; a source
// drops its newest reading when it is full (meter.Stats.DroppedFull), the next poll being
// fresher anyway.
const readingsQueue = 256

// Runner is the policy runner (its snapshot and event stream), nil without a policy or when
// the policy runs elsewhere (Options.Sink).
func (c *Controller) Runner() *policy.Runner { return c.runner }

// Meters are the meter sources (the console mounts the push sources).
func (c *Controller) Meters() []meter.Source { return c.meters }

// Stats are the Controller's counters.
type Stats struct {
	// Gated is how many workers' gates are closed now (at least one hold).
	Gated int
	// Commands counts firmware commands handed to a driver since start.
	Commands uint64
	// EnergyDropped counts energy intervals dropped because the energy queue was full;
	// EnergyWriteErrors those the store refused.
	EnergyDropped, EnergyWriteErrors uint64
	// EnergyQueued is the energy queue's current depth.
	EnergyQueued int
	// Telemetry are the firmware poller's counters.
	Telemetry PollerStats
}

// Stats returns the counters.
func (c *Controller) Stats() Stats {
	s := Stats{Gated: int(c.gated.Load()), Commands: c.commands.Load(), EnergyDropped: c.energyDrops.Load(), EnergyWriteErrors: c.energyErrs.Load(),
		EnergyQueued: len(c.energy)}
	if c.poller != nil {
		s.Telemetry = c.poller.Stats()
	}
	return s
}

// Drops returns the Controller's queue drops by reason, for hashgate_queue_drops_total.
func (c *Controller) Drops() map[string]uint64 {
	return map[string]uint64{"power_energy_full": c.energyDrops.Load(), "power_forget_full": c.forgetDrops.Load()}
}
