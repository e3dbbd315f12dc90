package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
)

// An isolated instance's floor Runner closes the gates of the miners it pauses at once, then
// waits for their firmware. When a leader is heard again before the firmware confirmed those
// pauses, the Runner stops and the commands carried out stay "run", which is what the next
// inventory tells every leader; the gates must open again with them.

// slowGates is an instance's Controller side: Plan records what each gate wants, and every
// pause waits for its context (a firmware slower than the time the floor ran, or refusing).
type slowGates struct {
	mu      sync.Mutex
	want    map[string]policy.Action
	started int // pauses begun
}

func newSlowGates() *slowGates { return &slowGates{want: map[string]policy.Action{}} }

func (s *slowGates) Plan(ds []policy.Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.want[d.MinerID] = d.Action
	}
}

func (s *slowGates) Apply(ctx context.Context, d policy.Decision) error {
	if d.Action == policy.ActionPause {
		s.mu.Lock()
		s.started++
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (s *slowGates) wants(id string) policy.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.want[id]
}

func (s *slowGates) pausesBegun() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// closedOnRunning lists the miners whose gate wants a pause while n's inventory says the
// command carried out is not one.
func (s *slowGates) closedOnRunning(n *Node) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, a := range s.want {
		n.mu.Lock()
		v, ok := n.views[id]
		n.mu.Unlock()
		if a == policy.ActionPause && ok && v.Commanded.Action != policy.ActionPause {
			ids = append(ids, id)
		}
	}
	return ids
}

// silentChief holds a site's lease on a real NATS server, renewing it, but publishes no
// heartbeat until told to: to the instances it is a leader they do not hear.
type silentChief struct {
	nc    *nats.Conn
	lease *Lease
	site  string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newSilentChief(t *testing.T, url, site string, ttl time.Duration) *silentChief {
	t.Helper()
	nc, js := connect(t, url)
	l, err := OpenLease(context.Background(), js, site, "chief", ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := l.TryAcquire(context.Background()); !ok || err != nil {
		t.Fatalf("chief lease: %v %v", ok, err)
	}
	c := &silentChief{nc: nc, lease: l, site: site, stop: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tk := time.NewTicker(ttl / 4)
		defer tk.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tk.C:
				_ = l.Renew(context.Background())
			}
		}
	}()
	t.Cleanup(func() { close(c.stop); c.wg.Wait() })
	return c
}

// speak publishes the chief's heartbeat until n follows it.
func (c *silentChief) speak(t *testing.T, n *Node) {
	t.Helper()
	waitFor(t, n.Instance()+" following the chief", func() bool {
		if st := n.Status(); st.Leader == "chief" && st.Role == RoleFollower {
			return true
		}
		if e, ok := c.lease.Held(time.Now()); ok {
			hb, _ := encode(&Heartbeat{Epoch: e, Leader: "chief"})
			_ = c.nc.Publish("hashgate."+c.site+".leader", hb)
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
}

// floorUnderSilentChief runs a NATS server, a silent chief holding site's lease, and an
// instance b of four 3.5 kW miners with a 3.5 kW safe floor, recording to rec (nil: none),
// carrying its commands out through gates. It returns once b isolated itself and its floor
// Runner began pausing three of the miners.
func floorUnderSilentChief(t *testing.T, site string, rec policy.Audit, gates *slowGates, logs *logBuf) (*Node, *silentChief, context.CancelFunc) {
	t.Helper()
	const ttl, stale = time.Second, 3 * time.Second
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	chief := newSilentChief(t, srv.ClientURL(), site, ttl)
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = site, "b", srv.ClientURL()
	cc.LeaseTTL, cc.StaleAfter, cc.SafeFloorKW = Duration(ttl), Duration(stale), 3.5
	n, err := New(cc, Options{Policy: sitePolicy(1000), Record: rec, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	for i := range 4 {
		id := fmt.Sprintf("b-%d", i)
		n.UpsertMiner(policy.Miner{ID: id, Worker: id, Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
			Commanded: policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: since}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx, gates) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	waitFor(t, "b isolated", func() bool { return n.Status().Role == RoleIsolated })
	waitFor(t, "the floor's pauses begun", func() bool { return gates.pausesBegun() >= 3 })
	return n, chief, stop
}

// The floor's gates closed for pauses its firmware never confirmed open again when a leader
// is heard: before, they stayed closed for good (the floor's plans were not among the plans
// rolled back), so every leader took the miners as running while they got no work.
func TestFloorGatesReopenedAtRejoin(t *testing.T) {
	gates, logs := newSlowGates(), &logBuf{}
	n, chief, _ := floorUnderSilentChief(t, "fr1", nil, gates, logs)
	if closed := gates.closedOnRunning(n); len(closed) < 3 {
		t.Fatalf("gates closed by the floor before the rejoin: %v, want 3", closed)
	}
	chief.speak(t, n)
	if closed := gates.closedOnRunning(n); len(closed) > 0 {
		t.Fatalf("gates closed on miners the inventory reports running after the rejoin: %v", closed)
	}
	for i := range 4 {
		if a := n.commandedOf(fmt.Sprintf("b-%d", i)); a == policy.ActionPause {
			t.Fatalf("b-%d commanded pause: no firmware confirmed one", i)
		}
	}
	if !logs.has("plans left without their orders rolled back to the commands carried out") {
		t.Error("no log line for the rollback")
	}
	// Nothing stranded is left for a later rollback to find.
	n.fence.mu.Lock()
	left := len(n.fence.plans)
	n.fence.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d plans still pending after the rejoin", left)
	}
}
