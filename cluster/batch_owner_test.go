package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
)

// fleetOwner is an instance's firmware side for many miners: it records the last action
// carried out on each, fails the miners in fail, and holds every call while held is open.
type fleetOwner struct {
	mu      sync.Mutex
	applied map[string]policy.Action
	calls   int
	fail    map[string]bool
	held    chan struct{} // nil: answers at once
	onApply func(id string, a policy.Action)
}

func newFleetOwner() *fleetOwner { return &fleetOwner{applied: map[string]policy.Action{}} }

func (o *fleetOwner) Plan([]policy.Decision) {}

func (o *fleetOwner) Apply(ctx context.Context, d policy.Decision) error {
	o.mu.Lock()
	o.calls++
	held, fail, on := o.held, o.fail[d.MinerID], o.onApply
	o.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("refused by the test firmware")
	}
	o.mu.Lock()
	o.applied[d.MinerID] = d.Action
	o.mu.Unlock()
	if on != nil {
		on(d.MinerID, d.Action)
	}
	return nil
}

func (o *fleetOwner) action(id string) policy.Action {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.applied[id]
}

// callCount is how many firmware calls the owner has had.
func (o *fleetOwner) callCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

func (o *fleetOwner) count(a policy.Action) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := 0
	for _, x := range o.applied {
		if x == a {
			k++
		}
	}
	return k
}

// runFleetNode starts a Node named inst owning miners inst-0 ... inst-(miners-1), logging to
// logs, carrying orders out through owner.
func runFleetNode(t *testing.T, url, site, inst string, ttl, stale time.Duration, pcfg policy.Config, miners int, owner policy.Planner, logs *logBuf) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = site, inst, url
	cfg.LeaseTTL, cfg.StaleAfter = Duration(ttl), Duration(stale)
	n, err := New(cfg, Options{Policy: pcfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	for i := range miners {
		id := fmt.Sprintf("%s-%d", inst, i)
		n.UpsertMiner(policy.Miner{ID: id, Worker: id, Group: inst, RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
			Commanded: policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: since}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx, owner) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// batch sends a batch from the boss to instance to and returns its reply later.
func (b *boss) batch(to string, epoch uint64, ds []Decided) <-chan BatchReply {
	body, err := encode(&Batch{Epoch: epoch, Leader: "boss", Owner: to, TimeoutMS: maxOrderTimeout, Decisions: ds})
	if err != nil {
		b.t.Fatal(err)
	}
	return b.raw("hashgate."+b.site+".batch."+to, body)
}

// raw sends body as a request on subj and returns the decoded reply later.
func (b *boss) raw(subj string, body []byte) <-chan BatchReply {
	out := make(chan BatchReply, 1)
	go func() {
		msg, err := b.nc.Request(subj, body, 2*time.Minute)
		if err != nil {
			out <- BatchReply{Err: "no reply: " + err.Error()}
			return
		}
		r, err := DecodeBatchReply(msg.Data)
		if err != nil {
			out <- BatchReply{Err: "bad reply: " + err.Error()}
			return
		}
		out <- *r
	}()
	return out
}

// followerPolicy is the [policy] table of an instance that follows the test's boss.
func followerPolicy() policy.Config {
	pc := policy.DefaultConfig()
	pc.ImportLimitKW = 1e5
	return pc
}

func decisions(action policy.Action, ids ...string) []Decided {
	var ds []Decided
	for _, id := range ids {
		ds = append(ds, Decided{MinerID: id, Action: Action(action), FromKW: 3.5, Reason: Reason(policy.ReasonImportLimit)})
	}
	return ds
}

func (l *logBuf) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), `"message":"`+msg+`"`)
}

// A batch at the current epoch is carried out on every miner it names; one below the highest
// epoch, or above it without the lease showing its leader, is refused whole and none of its
// orders reaches the firmware.
func TestBatchOfOldEpochRefusedWhole(t *testing.T) {
	const ttl, stale = time.Second, 50 * time.Second
	owner := newFleetOwner()
	logs := &logBuf{}
	b, n := bossFleetFollower(t, "b1", ttl, stale, 6, owner, logs)
	old := b.epoch()
	if r := <-b.batch("a", old, decisions(policy.ActionPause, "a-0", "a-1", "a-2")); r.Err != "" || len(r.Results) != 3 {
		t.Fatalf("a batch at the current epoch: %+v", r)
	}
	for _, id := range []string{"a-0", "a-1", "a-2"} {
		if owner.action(id) != policy.ActionPause || n.commandedOf(id) != policy.ActionPause {
			t.Fatalf("%s not paused by the batch", id)
		}
	}
	b.lease.NewTerm()
	waitFor(t, "a following the boss's new term", func() bool { return b.epoch() > old && n.Status().Epoch == b.epoch() })
	calls := owner.callCount()
	refused := n.Status().Refused
	r := <-b.batch("a", old, decisions(policy.ActionPause, "a-3", "a-4", "a-5"))
	if !strings.Contains(r.Err, ErrStaleEpoch.Error()) || len(r.Results) != 0 {
		t.Fatalf("a batch of the old epoch: %+v", r)
	}
	// An epoch nobody holds (a forged leader on the site's subjects) is refused whole too.
	r = <-b.batch("a", b.epoch()+1000, decisions(policy.ActionPause, "a-3", "a-4", "a-5"))
	if !strings.Contains(r.Err, ErrUnprovenEpoch.Error()) || len(r.Results) != 0 {
		t.Fatalf("a batch of an unproven epoch: %+v", r)
	}
	if after := owner.callCount(); after != calls {
		t.Fatalf("refused batches reached the firmware: %d calls, %d before", after, calls)
	}
	if got := n.Status().Refused; got < refused+6 {
		t.Fatalf("refused orders counted %d, want at least %d", got, refused+6)
	}
	if !logs.has("batch from a stale epoch refused") {
		t.Fatal("no log line for the stale batch")
	}
}

// An order of a batch still running when a newer epoch is admitted is cancelled like a single
// order: its firmware call's context ends, its result is an error and it is not recorded as
// commanded; the batch's other orders keep their results. A firmware that ignores the
// cancellation and answers later gets its order refused as stale. Every order of the batch
// was given at most stale_after - lease_ttl.
func TestBatchOrderCancelledWhenEpochOvertaken(t *testing.T) {
	for _, honour := range []bool{true, false} {
		t.Run(fmt.Sprintf("honours_ctx_%v", honour), func(t *testing.T) {
			const ttl, stale = time.Second, 50 * time.Second
			owner := newSlowOwner(t, honour)
			_, b, n := bossFollower(t, fmt.Sprintf("b2%v", honour), ttl, stale, owner)
			n.UpsertMiner(policy.Miner{ID: "a2", Worker: "a2", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true})
			old := b.epoch()
			ds := append(decisions(policy.ActionPause, "a2"), Decided{MinerID: "a1", Action: Action(policy.ActionRun), TargetKW: 3.5, Reason: Reason(policy.ReasonRestore)})
			reply := b.batch("a", old, ds)
			<-owner.started
			waitFor(t, "the batch's pause carried out", func() bool { return n.commandedOf("a2") == policy.ActionPause })
			if dl := owner.given(); dl <= 0 || dl > stale-ttl {
				t.Fatalf("order given %s, want at most stale_after - lease_ttl = %s", dl, stale-ttl)
			}
			b.lease.NewTerm()
			waitFor(t, "a following the newer epoch", func() bool { return b.epoch() > old && n.Status().Epoch == b.epoch() })
			if !honour {
				owner.finish() // the firmware answers after the epoch ended
			}
			r := <-reply
			if r.Err != "" || len(r.Results) != 2 || r.Results[0].MinerID != "a2" || r.Results[1].MinerID != "a1" {
				t.Fatalf("reply %+v", r)
			}
			if r.Results[0].Err != "" {
				t.Fatalf("the finished pause failed: %s", r.Results[0].Err)
			}
			if r.Results[1].Err == "" {
				t.Fatal("the older epoch's run succeeded after a newer epoch was admitted")
			}
			if !honour && !strings.Contains(r.Results[1].Err, ErrStaleEpoch.Error()) {
				t.Fatalf("a late firmware answer: %q, want a stale epoch", r.Results[1].Err)
			}
			if honour && !owner.cancelled() {
				t.Fatal("the older order was not cancelled")
			}
			if n.commandedOf("a1") == policy.ActionRun {
				t.Fatal("the stopped order is recorded as commanded")
			}
		})
	}
}

// Garbage, a batch for another instance, a batch ordering one miner twice, and orders for
// miners it does not own: each gets a clear answer and a log line, and the instance keeps
// carrying out the valid batches (the orders it owns in a mixed batch included).
func TestBatchHostileRefused(t *testing.T) {
	const ttl, stale = 20 * time.Second, 50 * time.Second // no lapse: a must follow the boss throughout
	owner := newFleetOwner()
	logs := &logBuf{}
	b, n := bossFleetFollower(t, "b3", ttl, stale, 4, owner, logs)
	e := b.epoch()
	subj := "hashgate.b3.batch.a"
	enc := func(m *Batch) []byte {
		body, err := json.Marshal(m) // unchecked: what a broken leader could send
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	dup := &Batch{Epoch: e, Leader: "boss", Owner: "a", TimeoutMS: 5000, Decisions: decisions(policy.ActionPause, "a-0", "a-0")}
	other := &Batch{Epoch: e, Leader: "boss", Owner: "b", TimeoutMS: 5000, Decisions: decisions(policy.ActionPause, "a-0")}
	bad0 := n.Status().BadMessages
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"garbage", []byte("\x00pause everything\xff"), ErrBadMessage.Error()},
		{"a batch of 900 KiB padding", append([]byte(`{"pad":"`), []byte(strings.Repeat("x", 900<<10))...), ErrBadMessage.Error()},
		{"one miner ordered twice", enc(dup), "ordered twice"},
		{"a batch for another instance", enc(other), `for instance "b"`},
	}
	for _, c := range cases {
		if r := <-b.raw(subj, c.body); !strings.Contains(r.Err, c.want) || len(r.Results) != 0 {
			t.Errorf("%s: reply %+v, want %q", c.name, r, c.want)
		}
	}
	if got := n.Status().BadMessages; got < bad0+uint64(len(cases)) {
		t.Fatalf("bad messages counted %d, want at least %d", got, bad0+uint64(len(cases)))
	}
	if !logs.has("message refused") {
		t.Fatal("no log line for the refused batches")
	}
	if owner.count(policy.ActionPause) != 0 {
		t.Fatal("a refused batch reached the firmware")
	}
	// A mixed batch: the miners it owns are carried out, the others answered as not owned.
	r := <-b.batch("a", e, decisions(policy.ActionPause, "a-1", "ghost-7", "a-2"))
	if r.Err != "" || len(r.Results) != 3 {
		t.Fatalf("mixed batch: %+v", r)
	}
	if r.Results[0].Err != "" || r.Results[2].Err != "" || !strings.Contains(r.Results[1].Err, ErrNotOwner.Error()) {
		t.Fatalf("mixed batch results: %+v", r.Results)
	}
	if owner.action("a-1") != policy.ActionPause || owner.action("a-2") != policy.ActionPause || owner.count(policy.ActionPause) != 2 {
		t.Fatal("the owned orders of the mixed batch were not carried out alone")
	}
}

// Batches queue at the owner up to maxQueuedOrders even while the firmware holds every call
// (no busy refusal within the bound); the batch beyond it is refused whole as queue full,
// counted and logged, and the queued ones complete once the firmware answers.
func TestBatchBeyondQueueRefusedWhole(t *testing.T) {
	// The boss's lease must outlive the test: 4,000 orders held under -race can stall a
	// loaded box past a 1 s lease, and a then takes the lease and, rightly, cancels the
	// boss's queued orders as an older epoch's (seen as "site leader" in a's log). Lapsing
	// is not what this test is about.
	const ttl, stale = 20 * time.Second, 50 * time.Second
	owner := newFleetOwner()
	owner.held = make(chan struct{})
	logs := &logBuf{}
	const full = maxQueuedOrders / MaxOrdersPerBatch
	b, n := bossFleetFollower(t, "b4", ttl, stale, (full+1)*MaxOrdersPerBatch, owner, logs)
	e := b.epoch()
	ids := func(k int) []string {
		var out []string
		for i := k * MaxOrdersPerBatch; i < (k+1)*MaxOrdersPerBatch; i++ {
			out = append(out, fmt.Sprintf("a-%d", i))
		}
		return out
	}
	var replies []<-chan BatchReply
	for k := range full {
		replies = append(replies, b.batch("a", e, decisions(policy.ActionPause, ids(k)...)))
	}
	waitFor(t, "every queued batch accepted", func() bool { return n.batchQueued.Load() == maxQueuedOrders })
	busy := n.Status().Busy
	r := <-b.batch("a", e, decisions(policy.ActionPause, ids(full)...))
	if !strings.Contains(r.Err, ErrQueueFull.Error()) || len(r.Results) != 0 {
		t.Fatalf("the batch beyond the queue: %+v", r)
	}
	if got := n.Status().Busy; got != busy+MaxOrdersPerBatch {
		t.Fatalf("busy orders %d, want %d", got, busy+MaxOrdersPerBatch)
	}
	if !logs.has("batch refused: order queue full") {
		t.Fatal("no log line for the refused batch")
	}
	close(owner.held)
	for _, ch := range replies {
		r := <-ch
		if r.Err != "" || len(r.Results) != MaxOrdersPerBatch {
			t.Fatalf("a queued batch: err %q, %d results", r.Err, len(r.Results))
		}
		for _, x := range r.Results {
			if x.Err != "" {
				t.Fatalf("queued order %s failed: %s", x.MinerID, x.Err)
			}
		}
	}
	if got := owner.count(policy.ActionPause); got != maxQueuedOrders {
		t.Fatalf("%d miners paused, want %d", got, maxQueuedOrders)
	}
	waitFor(t, "the queue drained", func() bool { return n.batchQueued.Load() == 0 })
}
