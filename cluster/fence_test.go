package cluster

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// slowOwner is an instance's firmware side whose first "run" takes as long as the test wants
// (a stock firmware takes ~21 s to start hashing). It records what overlaps on the miner.
type slowOwner struct {
	mu         sync.Mutex
	started    chan struct{} // closed when the slow run began
	release    chan struct{} // closed by the test to let it finish
	honourCtx  bool          // the slow run returns when its context ends
	ctxEnded   bool
	deadline   time.Duration // the slow run's context deadline, from its start
	slowDone   bool
	inFlight   int
	maxOverlap int
	after      []policy.Action // what was applied after the slow run began
}

func newSlowOwner(t *testing.T, honourCtx bool) *slowOwner {
	o := &slowOwner{started: make(chan struct{}), release: make(chan struct{}), honourCtx: honourCtx}
	t.Cleanup(o.finish) // before the Node stops: a failed test must not leave it waiting
	return o
}

// finish lets the slow run return.
func (o *slowOwner) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.release:
	default:
		close(o.release)
	}
}

// given is the time the slow run's context allowed it, from its start.
func (o *slowOwner) given() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.deadline
}

// cancelled reports whether the slow run returned because its context ended.
func (o *slowOwner) cancelled() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ctxEnded
}

func (o *slowOwner) Plan([]policy.Decision) {}

func (o *slowOwner) Apply(ctx context.Context, d policy.Decision) error {
	o.mu.Lock()
	o.inFlight++
	o.maxOverlap = max(o.maxOverlap, o.inFlight)
	slow := d.Action == policy.ActionRun && !o.slowDone
	if slow {
		o.slowDone = true
		if dl, ok := ctx.Deadline(); ok {
			o.deadline = time.Until(dl)
		}
	} else if o.slowDone {
		o.after = append(o.after, d.Action)
	}
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.inFlight--
		o.mu.Unlock()
	}()
	if !slow {
		return nil
	}
	close(o.started)
	if o.honourCtx {
		select {
		case <-ctx.Done():
			o.mu.Lock()
			o.ctxEnded = true
			o.mu.Unlock()
			return ctx.Err()
		case <-o.release:
			return nil
		}
	}
	<-o.release
	return nil
}

// boss is a leader played by the test: it holds the site's real lease and sends heartbeats
// and orders like a leader would.
type boss struct {
	t     *testing.T
	nc    *nats.Conn
	lease *Lease
	site  string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newBoss(t *testing.T, url, site string, ttl time.Duration) *boss {
	nc, js := connect(t, url)
	l, err := OpenLease(context.Background(), js, site, "boss", ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := l.TryAcquire(context.Background()); !ok || err != nil {
		t.Fatalf("boss lease: %v %v", ok, err)
	}
	b := &boss{t: t, nc: nc, lease: l, site: site, stop: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		tk := time.NewTicker(ttl / 4)
		defer tk.Stop()
		for {
			_ = l.Renew(context.Background())
			if e, ok := l.Held(time.Now()); ok {
				hb, _ := encode(&Heartbeat{Epoch: e, Leader: "boss"})
				_ = nc.Publish("hashgate."+site+".leader", hb)
			}
			select {
			case <-b.stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(b.silence)
	return b
}

func (b *boss) epoch() uint64 { e, _ := b.lease.Held(time.Now()); return e }

// silence cuts the boss off: no renewal, no heartbeat (its lease lapses at the server).
func (b *boss) silence() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.wg.Wait()
}

// order sends a "run" for miner at epoch asking for 10 minutes, and returns its reply later.
func (b *boss) order(to, miner string, epoch uint64) <-chan string {
	return b.request(to, &Order{Epoch: epoch, Leader: "boss", TimeoutMS: maxOrderTimeout,
		Decision: Decided{MinerID: miner, Action: Action(policy.ActionRun), TargetKW: 3.5, Reason: Reason(policy.ReasonImportLimit)}})
}

// request sends o to instance to and returns later the error its reply carries ("" for
// success), or why no reply came or parsed.
func (b *boss) request(to string, o *Order) <-chan string {
	body, err := encode(o)
	if err != nil {
		b.t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		msg, err := b.nc.Request("hashgate."+b.site+".cmd."+to, body, 2*time.Minute)
		if err != nil {
			out <- "no reply: " + err.Error()
			return
		}
		r, err := DecodeReply(msg.Data)
		if err != nil {
			out <- "bad reply: " + err.Error()
			return
		}
		out <- r.Err
	}()
	return out
}

// runNode starts a Node named inst with one miner, carrying orders out through owner.
func runNode(t *testing.T, url, site, inst string, ttl, stale time.Duration, owner policy.Planner) *Node {
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = site, inst, url
	cfg.LeaseTTL, cfg.StaleAfter = Duration(ttl), Duration(stale)
	pcfg := policy.DefaultConfig()
	pcfg.ImportLimitKW = 1000
	n, err := New(cfg, Options{Policy: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	n.UpsertMiner(policy.Miner{ID: inst + "1", Worker: inst + "1", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx, owner) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// bossFollower runs a NATS server, a boss leading site on it with a lease of ttl, and
// instance a (miner a1, see runNode) carrying orders out through owner; it returns once a
// follows the boss.
func bossFollower(t *testing.T, site string, ttl, stale time.Duration, owner policy.Planner) (*Embedded, *boss, *Node) {
	t.Helper()
	return underBoss(t, site, ttl, func(url string) *Node { return runNode(t, url, site, "a", ttl, stale, owner) })
}

// bossFleetFollower is bossFollower for an instance a of miners miners a-0, a-1, ... (see
// runFleetNode) logging to logs.
func bossFleetFollower(t *testing.T, site string, ttl, stale time.Duration, miners int, owner policy.Planner, logs *logBuf) (*boss, *Node) {
	t.Helper()
	_, b, n := underBoss(t, site, ttl, func(url string) *Node {
		return runFleetNode(t, url, site, "a", ttl, stale, followerPolicy(), miners, owner, logs)
	})
	return b, n
}

// underBoss runs a NATS server, a boss leading site on it with a lease of ttl, and the
// instance start runs on the server's URL; it returns once that instance follows the boss.
func underBoss(t *testing.T, site string, ttl time.Duration, start func(url string) *Node) (*Embedded, *boss, *Node) {
	t.Helper()
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	b := newBoss(t, srv.ClientURL(), site, ttl)
	n := start(srv.ClientURL())
	waitFor(t, n.Instance()+" following the boss", func() bool { return n.Status().Leader == "boss" })
	return srv, b, n
}

func (n *Node) commandedOf(id string) policy.Action {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.commanded[id].Action
}

// An order of an epoch this instance gives up (it is cut off from NATS right after taking it
// and isolates while a slow firmware works on it) is not recorded as commanded when the firmware finally answers, and the floor Runner
// starts only once it returned: the miner is never commanded by both.
func TestOrderOfGivenUpEpochEndsBeforeTheFloor(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	const ttl, stale = time.Second, 3 * time.Second
	b := newBoss(t, srv.ClientURL(), "f1", ttl)
	owner := newSlowOwner(t, false)
	r := newRelay(t, srv.Addr().String())
	n := runNode(t, r.url(), "f1", "a", ttl, stale, owner)
	waitFor(t, "a following the boss", func() bool { st := n.Status(); return st.Leader == "boss" && st.Role == RoleFollower })
	b.order("a", "a1", b.epoch())
	<-owner.started
	r.setCut(true)
	failed := n.counters.failed.Load()
	waitFor(t, "a giving up the boss's epoch", func() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.lost != 0 })
	owner.finish()
	waitFor(t, "the old order failed", func() bool { return n.counters.failed.Load() > failed })
	waitFor(t, "a isolated", func() bool { return n.Status().Role == RoleIsolated })
	if c := n.commandedOf("a1"); c == policy.ActionRun {
		t.Fatal("the given-up epoch's run is recorded as commanded")
	}
	owner.mu.Lock()
	defer owner.mu.Unlock()
	if owner.maxOverlap > 1 {
		t.Fatalf("the floor Runner commanded the miner while the old order still ran (overlap %d, after %v)", owner.maxOverlap, owner.after)
	}
}

// An owner gives an order no more time than stale_after minus lease_ttl, whatever the order
// asks, and a newer epoch (proven by the lease) stops an older epoch's running order at once.
func TestNewerEpochStopsOlderOrders(t *testing.T) {
	const ttl, stale = time.Second, 50 * time.Second
	owner := newSlowOwner(t, true)
	_, b, n := bossFollower(t, "f2", ttl, stale, owner)
	old := b.epoch()
	reply := b.order("a", "a1", old)
	<-owner.started
	if dl := owner.given(); dl <= 0 || dl > stale-ttl {
		t.Fatalf("order given %s, want at most stale_after - lease_ttl = %s", dl, stale-ttl)
	}
	b.lease.NewTerm()
	waitFor(t, "the boss's new term", func() bool { return b.epoch() > old })
	if r := <-reply; r == "" {
		t.Fatal("the older epoch's order succeeded after a newer epoch was admitted")
	}
	if !owner.cancelled() {
		t.Fatal("the older order was not cancelled")
	}
	if n.commandedOf("a1") == policy.ActionRun {
		t.Fatal("the stopped order is recorded as commanded")
	}
	if st := n.Status(); st.Epoch != b.epoch() {
		t.Fatalf("a follows epoch %d, the boss holds %d", st.Epoch, b.epoch())
	}
}
