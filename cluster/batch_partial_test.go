package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// One firmware that never answers must cost the leader that order only: the owner answers
// its batch by the time the leader stated, with the results that returned and the stalled
// order as still running.

// stallOne is an instance's firmware side that never answers for one miner until it is
// released (or, honouring its context, until the context ends) and carries the others out at
// once.
type stallOne struct {
	stalled   string
	honourCtx bool
	release   chan struct{}
	once      sync.Once
	mu        sync.Mutex
	applied   map[string]bool
	returned  bool // the stalled call returned
}

func newStallOne(t *testing.T, stalled string, honourCtx bool) *stallOne {
	s := &stallOne{stalled: stalled, honourCtx: honourCtx, release: make(chan struct{}), applied: map[string]bool{}}
	t.Cleanup(s.finish) // before the Node stops: a failed test must not leave it waiting
	return s
}

func (s *stallOne) finish() { s.once.Do(func() { close(s.release) }) }

func (s *stallOne) carried() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.applied)
}

func (s *stallOne) stalledReturned() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.returned
}

func (s *stallOne) Plan([]policy.Decision) {}

func (s *stallOne) Apply(ctx context.Context, d policy.Decision) error {
	if d.MinerID == s.stalled {
		defer func() { s.mu.Lock(); s.returned = true; s.mu.Unlock() }()
		if s.honourCtx {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.release:
				return errors.New("firmware: released")
			}
		}
		<-s.release
		return errors.New("firmware: released")
	}
	s.mu.Lock()
	s.applied[d.MinerID] = true
	s.mu.Unlock()
	return nil
}

// waitSubscribed waits until inst answers on its batch subject (a garbage batch is refused
// with an answer), so the test's first batch is not lost to a subscription still on its way.
func waitSubscribed(t *testing.T, url, site, inst string) {
	t.Helper()
	nc, _ := connect(t, url)
	waitFor(t, inst+" subscribed", func() bool {
		_, err := nc.Request("hashgate."+site+".batch."+inst, []byte("{"), 200*time.Millisecond)
		return err == nil || !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout)
	})
}

// The owner's bound (stale_after - lease_ttl = 60 s) is far beyond the leader's 8 s wait:
// before, the owner answered when the stalled order's 60 s ended and the leader, long gone,
// failed all ten orders, the nine carried out and confirmed included. Now the nine are
// confirmed to the leader and only the stalled one fails, as not answered, whether its
// firmware honours the cancellation or ignores it, and whichever bound ends first.
func TestBatchOneStalledOrderFailsAlone(t *testing.T) {
	for k, tc := range []struct {
		name   string
		honour bool          // the stalled firmware call returns when its context ends
		stale  time.Duration // the owner's stale_after; its lease_ttl is the bucket's 30 s
		wait   time.Duration // the leader's apply timeout
	}{
		// The nine answering orders have the wait less the reply margin (7 s) at the owner,
		// and in the last case the owner's bound (4 s): room for a loaded box under -race.
		{"honours_ctx", true, 90 * time.Second, 8 * time.Second},
		{"ignores_ctx", false, 90 * time.Second, 8 * time.Second},
		// The defaults' shape: the owner's bound (4 s here, 7 s by default) ends first.
		{"owner_bound_first", true, 34 * time.Second, 12 * time.Second},
	} {
		honour := tc.honour
		t.Run(tc.name, func(t *testing.T) {
			site := fmt.Sprintf("bp%d", k)
			srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
			url := srv.ClientURL()
			owners := map[string]string{}
			var ids []string
			for i := range 10 {
				id := fmt.Sprintf("o-%d", i)
				owners[id] = "o"
				ids = append(ids, id)
			}
			a := leaderActuator(t, url, site, owners, &logBuf{})
			own := newStallOne(t, "o-0", honour)
			logs := &logBuf{}
			n := runFleetNode(t, url, site, "o", 30*time.Second, tc.stale, followerPolicy(), 10, own, logs)
			waitSubscribed(t, url, site, "o")
			// The leader's epoch proven at the owner first: a plan and a batch arriving together
			// would share one lease read.
			hb, err := encode(&Heartbeat{Epoch: a.epoch, Leader: "lead"})
			if err != nil {
				t.Fatal(err)
			}
			nc, _ := connect(t, url)
			waitFor(t, "o following the leader", func() bool {
				if n.Status().Epoch == a.epoch {
					return true
				}
				_ = nc.Publish("hashgate."+site+".leader", hb)
				time.Sleep(20 * time.Millisecond)
				return false
			})
			errs := a.step(tc.wait, ids...)
			if got := own.carried(); got != 9 {
				logs.mu.Lock()
				t.Log(logs.b.String())
				logs.mu.Unlock()
				t.Fatalf("the owner carried out %d of the 9 answering orders (%v)", got, errs)
			}
			for i, err := range errs[1:] {
				if err != nil {
					t.Errorf("%s, carried out and confirmed at the owner: %v", ids[i+1], err)
				}
			}
			var oe *OrderError
			if !errors.As(errs[0], &oe) || !strings.Contains(oe.Msg, ErrOrderLate.Error()) {
				t.Fatalf("the stalled order: %v, want the owner's answer that it was still running", errs[0])
			}
			if !logs.has("batch answered with orders its firmware had not answered in time") {
				t.Error("no log line for the late order")
			}
			if honour {
				waitFor(t, "the stalled call stopped", own.stalledReturned)
			} else {
				// Still running: its batch stays queued and with the fence until it returns.
				if q := n.batchQueued.Load(); q != 10 {
					t.Fatalf("%d orders queued while the stalled one still runs, want the batch's 10", q)
				}
				own.finish()
			}
			waitFor(t, "the batch released", func() bool { return n.batchQueued.Load() == 0 })
			if c := n.commandedOf("o-0"); c == policy.ActionPause {
				t.Fatal("the late order is recorded as carried out")
			}
			if c := n.commandedOf("o-1"); c != policy.ActionPause {
				t.Fatalf("o-1 commanded %v, want pause", c)
			}
		})
	}
}

// The leader tells the owner its remaining wait minus the margin: from the time the batch
// reaches the owner, that ends before the leader stops waiting, by construction.
func TestBatchTimeoutLeavesReplyMargin(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	url := srv.ClientURL()
	owners := map[string]string{"q-0": "q", "q-1": "q"}
	a := leaderActuator(t, url, "bm", owners, &logBuf{})
	nc, _ := connect(t, url)
	got := make(chan int64, 1)
	sub, err := nc.Subscribe("hashgate.bm.batch.q", func(m *nats.Msg) {
		b, err := DecodeBatch(m.Data)
		if err != nil {
			return
		}
		select {
		case got <- b.TimeoutMS:
		default:
		}
		res := make([]Result, len(b.Decisions))
		for i, d := range b.Decisions {
			res[i].MinerID = d.MinerID
		}
		body, _ := encode(&BatchReply{Epoch: b.Epoch, Results: res})
		_ = m.Respond(body)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const wait = 20 * time.Second
	for _, err := range a.step(wait, "q-0", "q-1") {
		if err != nil {
			t.Fatal(err)
		}
	}
	// What the leader had left when it sent is at most wait, and x - replyMargin(x) grows
	// with x: the owner is told no more than wait less its margin.
	if ms := <-got; ms <= 0 || time.Duration(ms)*time.Millisecond > wait-replyMargin(wait) {
		t.Fatalf("owner told %d ms by a leader waiting %s, want at most %s", ms, wait, wait-replyMargin(wait))
	}
	for _, w := range []time.Duration{time.Millisecond, 100 * time.Millisecond, 3 * time.Second, 30 * time.Second, 10 * time.Minute} {
		if m := replyMargin(w); m <= 0 || m >= w {
			t.Errorf("replyMargin(%s) = %s, want within (0, %s)", w, m, w)
		}
	}
}
