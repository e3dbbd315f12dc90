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

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// The leader's actuator against owners played by the test on a real NATS server: how it
// splits a batch over the server's max_payload, and what it makes of an owner's bad replies.

// startNATSWithPayload runs a NATS server with JetStream and the given max_payload.
func startNATSWithPayload(t *testing.T, maxPayload int32) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(t.TempDir(), "js"), MaxPayload: maxPayload, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// leaderActuator is the actuator of a leader holding the site's lease on url, whose
// inventory says owners[miner] owns each miner. The Node is not run: the test plays the owners.
// Its lease is held by the real clock, 30 s, far beyond the test.
func leaderActuator(t *testing.T, url, site string, owners map[string]string, logs *logBuf) *siteActuator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = site, "lead", url
	// A clock that stands still: the linger never ends, so a step's orders go when the last
	// of them is queued, in one batch per owner, however slowly the machine runs them.
	n, err := New(cfg, Options{Policy: followerPolicy(), Logger: zerolog.New(logs), Clock: clock.NewManual(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	nc, js := connect(t, url)
	l, err := OpenLease(context.Background(), js, site, "lead", 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := l.TryAcquire(context.Background()); !ok || err != nil {
		t.Fatalf("lease: %v %v", ok, err)
	}
	n.nc.Store(nc)
	n.lease.Store(l)
	n.mu.Lock()
	for m, o := range owners {
		n.owner[m] = o
	}
	n.mu.Unlock()
	e, _ := l.Held(time.Now())
	return &siteActuator{n: n, epoch: e}
}

// step plans ds and applies them all at once, like the Runner's step, and returns each
// decision's error.
func (a *siteActuator) step(timeout time.Duration, ids ...string) []error {
	var ds []policy.Decision
	for _, id := range ids {
		ds = append(ds, policy.Decision{MinerID: id, Action: policy.ActionPause, FromKW: 3.5, Reason: policy.ReasonImportLimit})
	}
	a.Plan(ds)
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			errs[i] = a.Apply(ctx, d)
		}()
	}
	wg.Wait()
	return errs
}

// ownerLog is what answerBatches saw: each batch's size, the orders batched and the lone orders.
type ownerLog struct {
	mu      sync.Mutex
	sizes   []int
	orders  int
	singles int
}

// answerBatches answers every batch on the site's batch subjects with what answer returns
// (nil: no answer) and every lone order with success, recording what it saw.
func answerBatches(t *testing.T, url, site string, answer func(owner string, b *Batch) []byte) *ownerLog {
	t.Helper()
	ol := &ownerLog{}
	onOrders(t, url, site, func(m *nats.Msg, b *Batch) {
		ol.mu.Lock()
		ol.sizes = append(ol.sizes, len(m.Data))
		ol.orders += len(b.Decisions)
		ol.mu.Unlock()
		if body := answer(b.Owner, b); body != nil {
			m.Respond(body)
		}
	}, func(m *nats.Msg) {
		ol.mu.Lock()
		ol.singles++
		ol.mu.Unlock()
		b, _ := encode(&Reply{Epoch: 1})
		m.Respond(b)
	})
	return ol
}

func allDone(b *Batch) []Result {
	var rs []Result
	for _, d := range b.Decisions {
		rs = append(rs, Result{MinerID: d.MinerID})
	}
	return rs
}

// A step's orders that do not fit the server's max_payload in one batch go in several, each
// within it, and every decision gets its result.
func TestBatchSplitOverMaxPayload(t *testing.T) {
	const maxPayload = 8 << 10
	url := startNATSWithPayload(t, maxPayload)
	owners := map[string]string{}
	var ids []string
	for i := range 40 { // about 300 bytes an order: 12 KB for the step
		id := fmt.Sprintf("o-%s-%d", strings.Repeat("x", 200), i)
		owners[id] = "o"
		ids = append(ids, id)
	}
	ol := answerBatches(t, url, "bx", func(_ string, b *Batch) []byte {
		body, _ := encode(&BatchReply{Epoch: b.Epoch, Results: allDone(b)})
		return body
	})
	a := leaderActuator(t, url, "bx", owners, &logBuf{})
	for i, err := range a.step(30*time.Second, ids...) {
		if err != nil {
			t.Fatalf("%s: %v", ids[i], err)
		}
	}
	ol.mu.Lock()
	defer ol.mu.Unlock()
	if len(ol.sizes) < 2 || ol.orders != len(ids) || ol.singles != 0 {
		t.Fatalf("%d batches (%v bytes) carrying %d orders, %d single orders", len(ol.sizes), ol.sizes, ol.orders, ol.singles)
	}
	for _, s := range ol.sizes {
		if s > maxPayload {
			t.Fatalf("a batch of %d bytes over max_payload %d", s, maxPayload)
		}
	}
}

// What an owner answers wrongly fails exactly the decisions it concerns: a reply that does
// not parse or counts the wrong number of results fails the whole batch (logged), a result
// naming another miner fails that order alone, a refusal fails the batch with the owner's
// words, and no answer fails it when the Runner's apply_timeout ends. A lone decision goes as
// an Order; a miner no instance owns fails at once.
func TestBatchHostileOwnerReplies(t *testing.T) {
	url := startNATSWithPayload(t, 1<<20)
	owners := map[string]string{}
	for _, o := range []string{"garbage", "short", "swapped", "refuses", "silent", "fine"} {
		for i := range 3 {
			owners[fmt.Sprintf("%s-%d", o, i)] = o
		}
	}
	answerBatches(t, url, "bh", func(owner string, b *Batch) []byte {
		rs := allDone(b)
		var r Message = &BatchReply{Epoch: b.Epoch, Results: rs}
		switch owner {
		case "garbage":
			return []byte(`{"epoch":1,"results":[{"miner":""`)
		case "short":
			r = &BatchReply{Epoch: b.Epoch, Results: rs[:2]}
		case "swapped": // 0 and 1 answered under each other's names, 2 failed
			for i := range rs {
				switch rs[i].MinerID {
				case "swapped-0":
					rs[i].MinerID = "swapped-1"
				case "swapped-1":
					rs[i].MinerID = "swapped-0"
				case "swapped-2":
					rs[i].Err = "firmware: no answer"
				}
			}
		case "refuses":
			r = &BatchReply{Epoch: b.Epoch, Err: ErrQueueFull.Error()}
		case "silent":
			return nil
		}
		body, _ := encode(r)
		return body
	})
	logs := &logBuf{}
	a := leaderActuator(t, url, "bh", owners, logs)
	three := func(o string) []string { return []string{o + "-0", o + "-1", o + "-2"} }
	check := func(what string, errs []error, want ...func(error) bool) {
		t.Helper()
		for i, err := range errs {
			if !want[i](err) {
				t.Errorf("%s: order %d: %v", what, i, err)
			}
		}
	}
	bad := func(err error) bool { return errors.Is(err, ErrBadMessage) }
	ok := func(err error) bool { return err == nil }
	says := func(s string) func(error) bool {
		return func(err error) bool {
			var oe *OrderError
			return errors.As(err, &oe) && strings.Contains(oe.Msg, s)
		}
	}
	timedOut := func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
	check("garbage reply", a.step(30*time.Second, three("garbage")...), bad, bad, bad)
	if !logs.has("batch reply refused") {
		t.Error("no log line for the garbage reply")
	}
	check("too few results", a.step(30*time.Second, three("short")...), bad, bad, bad)
	check("swapped results", a.step(30*time.Second, three("swapped")...), bad, bad, says("firmware: no answer"))
	check("refused whole", a.step(30*time.Second, three("refuses")...), says(ErrQueueFull.Error()), says(ErrQueueFull.Error()), says(ErrQueueFull.Error()))
	check("no answer", a.step(500*time.Millisecond, three("silent")...), timedOut, timedOut, timedOut)
	check("a good owner", a.step(30*time.Second, three("fine")...), ok, ok, ok)
	check("a lone decision", a.step(30*time.Second, "fine-0"), ok)
	check("a miner nobody owns", a.step(30*time.Second, "ghost"), func(err error) bool { return errors.Is(err, ErrNotOwner) })
	// A term that ended sends nothing.
	a.epoch++
	check("after the term", a.step(30*time.Second, "fine-1"), func(err error) bool { return errors.Is(err, ErrNotLeader) })
}
