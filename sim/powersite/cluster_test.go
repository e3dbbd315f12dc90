package powersite_test

import (
	"context"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/sim/powersite"
)

// clusterSite is the site's control loop split over several hashgate instances, as a
// powersite.Stepped controller: one cluster.Node per instance (the production code: lease,
// inventory, telemetry and meter readings over NATS, the leader's site Runner, orders to the
// owners) on one real NATS server with JetStream on loopback. Instance k owns every
// instances-th miner of each group; the first instance reads the meters. The Nodes run on a
// manual clock: the scenario moves it a tick at a time and waits until the whole process is
// idle before it reads the site again, so the simulated time a message takes is that of the
// protocol's own periods (batching, heartbeats, renewals), not the wire's.
type clusterSite struct {
	t         testing.TB
	instances int
	cfg       policy.Config
	clk       *clock.Manual

	srv    *cluster.Embedded
	tap    *nats.Conn
	seen   atomic.Uint64 // messages the tap saw on the bus
	nodes  []*cluster.Node
	owner  map[string]int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	fed   [8]time.Time
	power map[string]time.Time

	// What the run saw of the cluster.
	leaders    map[string]bool // instances that led at some point
	epochs     map[uint64]bool
	isolated   int // steps at which some instance was isolated
	busySettle int // settles given up after settleBound with the process still busy
	settles    int
	final      []cluster.Status
	warmup     time.Duration // real time from the first Node's start to the site's first step
}

// report is what the run saw of the cluster itself.
func (c *clusterSite) report() string {
	var refused, busy, failed, applied, bad, gaps uint64
	for _, st := range c.final {
		refused, busy, failed, applied = refused+st.Refused, busy+st.Busy, failed+st.OrdersFailed, applied+st.OrdersApplied
		bad, gaps = bad+st.BadMessages, gaps+st.InventoryGaps
	}
	return fmt.Sprintf("leaders %d, epochs %d, isolated steps %d, orders applied %d failed %d refused %d busy %d, bad messages %d, inventory gaps %d, settles %d (%d given up busy), warm-up %v",
		len(c.leaders), len(c.epochs), c.isolated, applied, failed, refused, busy, bad, gaps, c.settles, c.busySettle, c.warmup.Round(time.Millisecond))
}

func newClusterSite(t testing.TB, instances int, cfg policy.Config) *clusterSite {
	return &clusterSite{t: t, instances: instances, cfg: cfg, clk: clock.NewManual(powersite.Epoch),
		power: map[string]time.Time{}, owner: map[string]int{}, leaders: map[string]bool{}, epochs: map[uint64]bool{}}
}

func (c *clusterSite) Name() string {
	if c.instances == 1 {
		return "1 instance, NATS"
	}
	return fmt.Sprintf("%d instances, NATS", c.instances)
}
func (c *clusterSite) Restart() {}
func (c *clusterSite) Step(time.Time, policy.Readings, []policy.Miner) []policy.Decision {
	panic("a Stepped controller is not stepped")
}
func (c *clusterSite) Clock() clock.Clock { return c.clk }

// simOwner is one instance's firmware side: the site's command function, cut short when the
// run ends (an order's own deadline is in real time and would outlive it).
type simOwner struct {
	ctx     context.Context
	command func(context.Context, policy.Decision) error
}

func (o simOwner) Plan([]policy.Decision) {}
func (o simOwner) Apply(ctx context.Context, d policy.Decision) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(o.ctx, cancel)
	defer stop()
	return o.command(ctx, d)
}

func (c *clusterSite) Start(fleet []policy.Miner, command func(context.Context, policy.Decision) error) {
	t := c.t
	srv, err := cluster.StartEmbedded(cluster.EmbedOptions{Name: "sim", Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c.srv = srv
	c.tap, err = nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.tap.Subscribe(">", func(*nats.Msg) { c.seen.Add(1) }); err != nil {
		t.Fatal(err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	group := map[string]int{}
	for i := range c.instances {
		cc := cluster.DefaultConfig()
		cc.Site, cc.Instance, cc.NATSURL = "sim", fmt.Sprintf("i%d", i), srv.ClientURL()
		cc.SafeFloorKW = c.cfg.SafeFloorKW / float64(c.instances)
		n, err := cluster.New(cc, cluster.Options{Policy: c.cfg, Clock: c.clk})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	for _, m := range fleet {
		k := group[m.Group] % c.instances
		group[m.Group]++
		c.owner[m.ID] = k
		c.nodes[k].UpsertMiner(m)
	}
	// The first instance takes the lease, at simulated time zero, before the others start: it
	// then hears each one's first inventory snapshot, sent as a Node starts.
	want := map[int]int{}
	for _, k := range c.owner {
		want[k]++
	}
	warm := time.Now()
	defer func() { c.warmup = time.Since(warm) }()
	for k, n := range c.nodes {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := n.Run(c.ctx, simOwner{ctx: c.ctx, command: command}); err != nil {
				t.Error(err)
			}
		}()
		c.waitReady(func() bool { return c.ready(want, k+1) })
	}
	c.settle()
}

func (c *clusterSite) waitReady(cond func() bool) {
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, n := range c.nodes {
				c.t.Logf("%+v", n.Status())
			}
			c.t.Fatal("no leader following every instance's whole inventory")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ready reports whether the first instance leads and sees the whole inventory of the
// first started instances.
func (c *clusterSite) ready(want map[int]int, started int) bool {
	st := c.nodes[0].Status()
	if st.Role != cluster.RoleLeader || len(st.Instances) != started {
		return false
	}
	for k, is := range st.Instances {
		if is.Miners != want[k] || is.Stale {
			return false
		}
	}
	return true
}

func (c *clusterSite) Feed(rd policy.Readings, fleet []policy.Miner) {
	for _, role := range policy.Roles() {
		if v, ok := rd.Get(role); ok && v.At.After(c.fed[role]) {
			c.fed[role] = v.At
			c.nodes[0].Observe(v)
		}
	}
	for _, m := range fleet {
		if !m.MeasuredAt.IsZero() && m.MeasuredAt.After(c.power[m.ID]) {
			c.power[m.ID] = m.MeasuredAt
			c.nodes[c.owner[m.ID]].ObservePower(m.ID, m.MeasuredKW, m.MeasuredAt)
		}
	}
	c.settle()
}

func (c *clusterSite) Advance(d time.Duration) {
	c.clk.Advance(d)
	c.settle()
	for _, n := range c.nodes {
		st := n.Status()
		switch st.Role {
		case cluster.RoleLeader:
			c.leaders[st.Instance] = true
			c.epochs[st.Epoch] = true
		case cluster.RoleIsolated:
			c.isolated++
		}
	}
}

func (c *clusterSite) Stop() {
	for _, n := range c.nodes {
		c.final = append(c.final, n.Status())
	}
	c.cancel()
	c.wg.Wait()
	c.tap.Close()
	c.srv.Shutdown()
}

// The scheduler's view of the process: a goroutine that can run, runs, or sits in a system
// call (a JetStream file write) is work the step is not done with.
var schedSamples = []metrics.Sample{
	{Name: "/sched/goroutines/runnable:goroutines"},
	{Name: "/sched/goroutines/running:goroutines"},
	{Name: "/sched/goroutines/not-in-go:goroutines"},
}

// settleQuiet is how many checks in a row must find the process idle and the bus silent.
const settleQuiet = 3

// settlePause is the pause between two looks at the scheduler: this goroutine waits, so
// the one it looks at are others.
const settlePause = 20 * time.Microsecond

// settleBound gives up waiting for an idle process (another process's load may keep a
// goroutine of NATS' own busy); a step that needed it is counted.
const settleBound = 2 * time.Second

// settle returns once every goroutine of the process but this one waits and a round trip
// to the server through the tap saw no message move on the bus: what the Nodes published
// has been delivered, and whatever it started has run.
func (c *clusterSite) settle() {
	c.settles++
	deadline := time.Now().Add(settleBound)
	samples := append([]metrics.Sample(nil), schedSamples...)
	idle := func() bool {
		for quiet := 0; quiet < settleQuiet; {
			time.Sleep(settlePause)
			metrics.Read(samples)
			if samples[0].Value.Uint64() > 0 || samples[1].Value.Uint64() > 1 || samples[2].Value.Uint64() > 0 {
				quiet = 0
			} else {
				quiet++
			}
			if time.Now().After(deadline) {
				return false
			}
		}
		return true
	}
	for {
		if !idle() {
			c.busySettle++
			return
		}
		before := c.seen.Load()
		if err := c.tap.Flush(); err != nil {
			c.t.Fatal(err)
		}
		if c.seen.Load() == before {
			if !idle() {
				c.busySettle++
			}
			return
		}
	}
}
