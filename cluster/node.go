package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// Sentinel errors.
var (
	// ErrRunning is returned by Run when the Node already runs or ran.
	ErrRunning = errors.New("cluster: node already started")
	// ErrStaleEpoch refuses an order or plan from an epoch below the highest one seen, or
	// from the epoch this instance stopped obeying when it isolated itself.
	ErrStaleEpoch = errors.New("cluster: stale epoch")
	// ErrNotLeader is returned by the site actuator once its term ended.
	ErrNotLeader = errors.New("cluster: not the leader at this epoch")
	// ErrNotOwner refuses an order for a miner this instance does not own, and fails an
	// order for a miner no instance reports.
	ErrNotOwner = errors.New("cluster: miner not owned")
	// ErrBusy refuses an order when maxOrders are already being carried out.
	ErrBusy = errors.New("cluster: too many orders in flight")
)

// Role is what an instance does in its site.
type Role uint8

// Roles.
const (
	RoleFollower Role = iota // obeys the leader's orders
	RoleLeader               // runs the site's policy
	RoleIsolated             // heard no valid leader for stale_after: own miners at safe_floor_kw
)

var roleNames = [...]string{"follower", "leader", "isolated"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, for clients of GET /api/v1/cluster.
func (r *Role) UnmarshalText(b []byte) error {
	for i, n := range roleNames {
		if n == string(b) {
			*r = Role(i)
			return nil
		}
	}
	return fmt.Errorf("cluster: unknown role %q", b)
}

// Options are the Node's collaborators. Nil fields have the stated defaults.
type Options struct {
	// Policy is the [policy] table. The leader runs it over the whole site; an isolated
	// instance runs it over its own miners with safe_floor_kw and no site meter.
	Policy policy.Config
	// URL overrides Config.NATSURL (the embedded server's client URL).
	URL string
	// Audit receives the site Runner's decisions and results while this instance leads; nil
	// keeps none.
	Audit policy.Audit
	// Record keeps the commands this instance carries out on its own miners (another
	// leader's orders, its isolation Runner's decisions) where its power.Controller restores
	// them at start, so a restart starts its miners in their last commanded states; nil keeps
	// none.
	Record policy.Audit
	// Controls keeps the last site controls document this instance took, so that a start
	// while NATS is unreachable holds the floor to the site's paused groups and cap
	// (controls_kept.go); nil keeps none.
	Controls ControlsStore
	// Clock drives the lease, the heartbeats, isolation and the Runners; nil is clock.Real.
	Clock clock.Clock
	// Logger receives the Node's logs; the zero value discards them.
	Logger zerolog.Logger
}

// Node is one instance's membership in its site. It publishes the instance's miners,
// telemetry and meter readings (it is the power.Controller's feed), follows every instance's
// inventory, campaigns for the lease, runs the site's policy while it holds it, carries out
// the leader's orders for its own miners, and isolates itself when it hears no leader.
type Node struct {
	cfg    Config
	inst   string
	prefix string
	pcfg   policy.Config
	audit  policy.Audit
	record policy.Audit
	url    string
	clk    clock.Clock
	log    zerolog.Logger
	boot   int64

	started atomic.Bool
	nc      atomic.Pointer[nats.Conn]
	lease   atomic.Pointer[Lease]
	local   policy.Planner

	// isoMu orders the isolation Runner's start and stop with admitting a newer epoch: the
	// local Runner has stopped before any order of the leader is carried out.
	isoMu sync.Mutex

	mu sync.Mutex
	// Own miners: the views the Controller reports, with the commands carried out here.
	views     map[string]policy.Miner
	commanded map[string]policy.Command
	dirty     map[string]bool
	removed   map[string]bool
	power     map[string]PowerSample
	seq, snap uint64
	forceFull bool
	highest   uint64 // the highest epoch seen
	lost      uint64 // the epoch given up when isolated (0: following)
	gen       uint64
	contact   time.Time // last valid leader heartbeat or order (or own valid lease)
	leader    string
	iso       *term
	// The site: every instance's inventory, followed by every node.
	peers    map[string]*peer
	owner    map[string]string
	readings map[policy.Role]policy.Reading
	site     *term
	askedNew uint64 // the epoch for which a new term was asked

	orders      chan struct{}
	batchQueued atomic.Int64 // orders of accepted batches not yet answered (carry.go)
	counters    counters
	// fence: the orders being carried out and the last proof of a leader's epoch.
	fence fence
	// records go to the store writer (record.go), and so do rolled, the states rolled-back
	// gates left standing.
	records chan ownRecord
	rolled  rollbacks

	// The site's operator controls (controls.go): the bucket, opened once, and the document
	// as last read with what the site Runner was given (under mu).
	ctlMu sync.Mutex
	ctlKV jetstream.KeyValue
	ctl   controlsView
	// ctlStore keeps the document across restarts; kept is what waits for its writer.
	ctlStore ControlsStore
	kept     keptControls
}

type counters struct {
	bad, refused, busy, gaps, applied, failed, published, pubErr atomic.Uint64
	recordDrops, recordErrs                                      atomic.Uint64
}

// openTimeout bounds creating or opening the lease bucket.
const openTimeout = 10 * time.Second

// maxOrders bounds the orders carried out at once; beyond it an order is refused (busy) and
// the leader's Runner retries it after its back-off.
const maxOrders = 256

// New validates cfg and builds a Node; Run connects and starts it.
func New(cfg Config, o Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	url := o.URL
	if url == "" {
		url = cfg.NATSURL
	}
	inst := cfg.InstanceName()
	n := &Node{cfg: cfg, inst: inst, prefix: "hashgate." + cfg.Site, pcfg: o.Policy, audit: o.Audit, record: o.Record, ctlStore: o.Controls, url: url, clk: o.Clock,
		log:   o.Logger.With().Str("component", "cluster").Str("instance", inst).Logger(),
		boot:  time.Now().UnixNano(),
		views: map[string]policy.Miner{}, commanded: map[string]policy.Command{}, dirty: map[string]bool{}, removed: map[string]bool{},
		power: map[string]PowerSample{}, peers: map[string]*peer{}, owner: map[string]string{}, readings: map[policy.Role]policy.Reading{},
		orders: make(chan struct{}, maxOrders)}
	n.contact = n.clk.Now() // a starting instance waits stale_after for a leader before it isolates
	n.records = make(chan ownRecord, recordQueue)
	n.rolled.wake = make(chan struct{}, 1)
	n.kept.wake = make(chan struct{}, 1)
	// Gen starts from the boot time: a leader that heard the previous run takes this run's
	// first snapshot as its miners' commanded states (restored from the store), as after an
	// isolation, not the states it last commanded.
	n.gen = uint64(n.boot)
	return n, nil
}

// Instance is this instance's name in the site.
func (n *Node) Instance() string { return n.inst }

func (n *Node) subject(kind, inst string) string { return n.prefix + "." + kind + "." + inst }

// Run connects to NATS and runs the Node until ctx is done; local carries out orders for this
// instance's miners (the power.Controller). On return the lease is released, the Runners have
// stopped and the connection is closed.
func (n *Node) Run(ctx context.Context, local policy.Planner) error {
	if !n.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	n.local = local
	n.loadControls(ctx) // before NATS answers: the floor starts from the kept document
	nc, err := nats.Connect(n.url, nats.Name("hashgate-"+n.cfg.Site+"-"+n.inst), nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond), nats.RetryOnFailedConnect(true), nats.Timeout(2*time.Second),
		nats.PingInterval(n.cfg.LeaseTTL.D()), nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.log.Warn().Err(err).Msg("NATS disconnected") }),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.log.Info().Str("server", c.ConnectedUrlRedacted()).Msg("NATS reconnected")
			n.mu.Lock()
			n.forceFull = true
			n.mu.Unlock()
		}))
	if err != nil {
		return err
	}
	n.nc.Store(nc)
	subs := []struct {
		subj string
		f    nats.MsgHandler
	}{
		{n.subject("inv", "*"), n.onInventory},
		{n.subject("power", "*"), n.onTelemetry},
		{n.subject("meter", "*"), n.onReadings},
		{n.prefix + ".leader", n.onHeartbeat},
		{n.subject("cmd", n.inst), n.onOrder},
		{n.subject("batch", n.inst), n.onBatch},
		{n.subject("plan", n.inst), n.onPlan},
	}
	for _, s := range subs {
		if _, err := nc.Subscribe(s.subj, s.f); err != nil {
			nc.Close()
			return err
		}
	}
	var wg sync.WaitGroup
	wg.Add(5)
	go func() {
		defer wg.Done()
		n.keepControls(ctx)
	}()
	go func() {
		defer wg.Done()
		n.campaign(ctx)
	}()
	go func() {
		defer wg.Done()
		n.writeRecords(ctx)
	}()
	go func() {
		defer wg.Done()
		n.watchControls(ctx)
	}()
	go func() {
		defer wg.Done()
		n.publishLoop(ctx)
	}()
	<-ctx.Done()
	wg.Wait()
	n.stopSite()
	n.isoMu.Lock()
	n.stopIso()
	n.isoMu.Unlock()
	n.flushRecords()
	if l := n.lease.Load(); l != nil {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := l.Release(rctx); err != nil {
			n.log.Info().Err(err).Msg("lease not released; it expires after lease_ttl")
		}
		cancel()
	}
	nc.Close()
	return nil
}

// campaign renews or tries to take the lease every third of lease_ttl, publishes the
// heartbeat while it holds it, and isolates the instance when no leader was heard for
// stale_after.
func (n *Node) campaign(ctx context.Context) {
	ttl := n.cfg.LeaseTTL.D()
	t := n.clk.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		n.campaignOnce(ctx, ttl)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (n *Node) campaignOnce(ctx context.Context, timeout time.Duration) {
	nc := n.nc.Load()
	l := n.lease.Load()
	if l == nil && nc.IsConnected() {
		js, err := jetstream.New(nc)
		if err == nil {
			// Creating the bucket writes the stream to disk: slower than a renewal.
			octx, cancel := context.WithTimeout(ctx, openTimeout)
			l, err = OpenLease(octx, js, n.cfg.Site, n.inst, n.cfg.LeaseTTL.D(), n.clk)
			cancel()
		}
		var ce *ConfigError
		if errors.As(err, &ce) {
			// Without the lease no leader's epoch is proven: the instance isolates at its floor.
			n.log.Error().Err(err).Msg("lease bucket refused: this instance neither leads nor follows")
			l = nil
		} else if err != nil {
			n.log.Info().Err(err).Msg("lease bucket not available yet")
			l = nil
		} else {
			n.lease.Store(l)
		}
	}
	if l != nil {
		if _, held := l.Held(n.clk.Now()); held {
			// A renewal may take until the lease would lapse anyway: a slow answer is
			// better than giving up a lease the server still keeps.
			rctx, cancel := context.WithTimeout(ctx, l.Deadline().Sub(n.clk.Now()))
			if err := l.Renew(rctx); err != nil {
				n.log.Info().Err(err).Msg("lease renewal failed")
			}
			cancel()
		} else if nc.IsConnected() {
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if ok, err := l.TryAcquire(rctx); err != nil {
				n.log.Debug().Err(err).Msg("lease not taken")
			} else if ok {
				e, _ := l.Held(n.clk.Now())
				n.log.Info().Uint64("epoch", e).Msg("site leader")
			}
		}
	}
	now := n.clk.Now()
	if l != nil {
		if epoch, held := l.Held(now); held {
			n.lead(epoch, now)
			if b, err := encode(&Heartbeat{Epoch: epoch, Leader: n.inst}); err == nil {
				n.publish(n.prefix+".leader", b)
			}
		} else {
			n.stopSite()
		}
	}
	n.expirePlans(now)
	n.mu.Lock()
	quiet := now.Sub(n.contact) > n.cfg.StaleAfter.D() && n.iso == nil
	n.markStaleLocked(now)
	n.mu.Unlock()
	if quiet {
		n.isolate()
	}
}

func (n *Node) publish(subj string, b []byte) {
	if err := n.nc.Load().Publish(subj, b); err != nil {
		n.counters.pubErr.Add(1)
		return
	}
	n.counters.published.Add(1)
}

// Status is a Node's view of its site, for the console and /metrics.
type Status struct {
	Site     string `json:"site"`
	Instance string `json:"instance"`
	Role     Role   `json:"role"`
	// Epoch is the highest epoch this instance has seen (its own while it leads).
	Epoch uint64 `json:"epoch"`
	// Leader is the instance whose heartbeat or order was last obeyed ("" before any).
	Leader string `json:"leader"`
	// Connected: the NATS connection is up.
	Connected bool `json:"connected"`
	// Instances are every instance whose inventory this one has seen, sorted by name.
	Instances []InstanceStatus `json:"instances"`
	// Counters since start.
	BadMessages   uint64 `json:"bad_messages"`
	Refused       uint64 `json:"refused_orders"`
	Busy          uint64 `json:"busy_orders"`
	InventoryGaps uint64 `json:"inventory_gaps"`
	OrdersApplied uint64 `json:"orders_applied"`
	OrdersFailed  uint64 `json:"orders_failed"`
	// RecordsDropped counts own command records dropped with the store writer behind
	// (recordQueue full); RecordErrors those the store refused. Either leaves the miner's
	// previous stored state for the next start.
	RecordsDropped uint64 `json:"records_dropped"`
	RecordErrors   uint64 `json:"record_errors"`
	// ControlsFrom says where the site controls in force came from: "stored" (this
	// instance's kept copy, NATS not answered since start), "nats", or "" (none);
	// ControlsRevision is the document's revision in the site's bucket.
	ControlsFrom     ControlsFrom `json:"controls_from"`
	ControlsRevision uint64       `json:"controls_revision"`
}

// InstanceStatus is one instance as this one sees it.
type InstanceStatus struct {
	Name     string    `json:"name"`
	Miners   int       `json:"miners"`
	LastSeen time.Time `json:"last_seen"`
	// Stale: nothing heard for stale_after; its miners are out of the site's policy.
	Stale bool `json:"stale"`
	// Isolated: it reports it gave up an epoch and holds its own floor.
	Isolated bool `json:"isolated"`
}

// Status returns the Node's current view.
func (n *Node) Status() Status {
	n.mu.Lock()
	s := Status{Site: n.cfg.Site, Instance: n.inst, Role: n.roleLocked(), Epoch: n.highest, Leader: n.leader,
		ControlsFrom: n.ctl.from, ControlsRevision: n.ctl.rev}
	for name, p := range n.peers {
		s.Instances = append(s.Instances, InstanceStatus{Name: name, Miners: len(p.miners), LastSeen: p.lastSeen, Stale: p.stale, Isolated: p.lost != 0})
	}
	n.mu.Unlock()
	sort.Slice(s.Instances, func(i, j int) bool { return s.Instances[i].Name < s.Instances[j].Name })
	if nc := n.nc.Load(); nc != nil {
		s.Connected = nc.IsConnected()
	}
	c := &n.counters
	s.BadMessages, s.Refused, s.Busy, s.InventoryGaps = c.bad.Load(), c.refused.Load(), c.busy.Load(), c.gaps.Load()
	s.OrdersApplied, s.OrdersFailed = c.applied.Load(), c.failed.Load()
	s.RecordsDropped, s.RecordErrors = c.recordDrops.Load(), c.recordErrs.Load()
	return s
}

func (n *Node) roleLocked() Role {
	switch {
	case n.iso != nil:
		return RoleIsolated
	case n.site != nil:
		return RoleLeader
	}
	return RoleFollower
}

// Runner is the site's policy Runner while this instance leads (its snapshot and events for
// the console), else nil.
func (n *Node) Runner() *policy.Runner {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.site != nil {
		return n.site.r
	}
	return nil
}

// term is one running policy Runner: the site's for one epoch, or the isolation Runner.
type term struct {
	r      *policy.Runner
	epoch  uint64
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) startTerm(act policy.Actuator, cfg policy.Config, epoch uint64, audit policy.Audit) (*term, error) {
	r, err := policy.NewRunner(cfg, policy.RunnerOptions{Actuator: act, Clock: policyClock{n.clk}, Audit: audit, Logger: n.log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &term{r: r, epoch: epoch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		if err := r.Run(ctx); err != nil {
			n.log.Error().Err(err).Msg("policy runner stopped")
		}
	}()
	return t, nil
}

// stop ends the Runner and waits until its in-flight commands returned.
func (t *term) stop() {
	t.cancel()
	<-t.done
}
