package cluster

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// The leader's side of batching, with a real site Runner: three Nodes on one NATS server,
// each owning a share of the fleet, a simulated site meter (a base load plus 3.5 kW per
// running miner, as each owner's firmware side reports it) read and published by every
// instance, and a watcher on the site's order subjects.

// meteredSite is the site meter the owners' firmware sides move: a base load plus 3.5 kW per
// running miner.
type meteredSite struct {
	mu      sync.Mutex
	base    float64
	running map[string]bool
}

func (s *meteredSite) set(id string, a policy.Action) {
	s.mu.Lock()
	s.running[id] = a != policy.ActionPause
	s.mu.Unlock()
}

func (s *meteredSite) importKW() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	kw := s.base
	for _, r := range s.running {
		if r {
			kw += 3.5
		}
	}
	return kw
}

// orderWatch counts the requests on the site's order subjects and keeps every batch seen.
type orderWatch struct {
	mu      sync.Mutex
	singles int
	batches []*Batch
}

func watchOrders(t *testing.T, url, site string) *orderWatch {
	w := &orderWatch{}
	onOrders(t, url, site, func(_ *nats.Msg, b *Batch) {
		w.mu.Lock()
		w.batches = append(w.batches, b)
		w.mu.Unlock()
	}, func(*nats.Msg) { w.mu.Lock(); w.singles++; w.mu.Unlock() })
	return w
}

// onOrders subscribes to the site's order subjects: batch gets every batch sent (one that
// does not decode fails the test), single every lone order.
func onOrders(t *testing.T, url, site string, batch func(*nats.Msg, *Batch), single func(*nats.Msg)) {
	t.Helper()
	nc, _ := connect(t, url)
	if _, err := nc.Subscribe("hashgate."+site+".batch.*", func(m *nats.Msg) {
		b, err := DecodeBatch(m.Data)
		if err != nil {
			t.Errorf("the leader sent a batch its owners refuse: %v", err)
			return
		}
		batch(m, b)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("hashgate."+site+".cmd.*", single); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func (w *orderWatch) counts() (requests, batched int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.batches {
		batched += len(b.Decisions)
	}
	return w.singles + len(w.batches), batched
}

type meteredInstance struct {
	n     *Node
	owner *fleetOwner
	logs  *logBuf
}

// startMeteredSite runs three instances of miners miners each; fail names miners whose
// firmware refuses every call.
func startMeteredSite(t *testing.T, site string, miners int, pc policy.Config, ms *meteredSite, fail map[string]bool) ([]*meteredInstance, *orderWatch) {
	t.Helper()
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	w := watchOrders(t, srv.ClientURL(), site)
	var all []*meteredInstance
	for i := range 3 {
		name := fmt.Sprintf("i%d", i)
		o := newFleetOwner()
		o.fail, o.onApply = fail, ms.set
		for k := range miners {
			ms.set(fmt.Sprintf("%s-%d", name, k), policy.ActionRun)
		}
		logs := &logBuf{}
		// A 3 s lease, as the other batch tests: a 1 s one can lapse on a loaded box in the
		// middle of the shed (this test failed once in a full run that way, it seems: one
		// request counted where the batches of a shed were expected).
		n := runFleetNode(t, srv.ClientURL(), site, name, 3*time.Second, 10*time.Second, pc, miners, o, logs)
		all = append(all, &meteredInstance{n: n, owner: o, logs: logs})
	}
	every(t, 100*time.Millisecond, func(at time.Time) {
		for _, in := range all {
			in.n.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: ms.importKW(), At: at})
		}
	})
	// Before the test moves the meter: one leader following every miner, and every instance
	// following its epoch (an epoch not yet proven to an owner is refused whole).
	waitFor(t, "one leader following every instance's miners, every instance following it", func() bool {
		l := leaderOf(all)
		if l == nil {
			return false
		}
		st := l.n.Status()
		if len(st.Instances) != 3 {
			return false
		}
		for _, x := range st.Instances {
			if x.Miners != miners {
				return false
			}
		}
		for _, in := range all {
			if f := in.n.Status(); f.Leader != st.Instance || f.Epoch != st.Epoch {
				return false
			}
		}
		return true
	})
	return all, w
}

func meteredPolicy(limitKW float64) policy.Config {
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW = limitKW, 2
	pc.Interval = policy.Duration(500 * time.Millisecond)
	pc.MinRun, pc.MinPause = 0, policy.Duration(time.Hour) // what is shed stays shed
	return pc
}

func leaderOf(all []*meteredInstance) *meteredInstance {
	for _, in := range all {
		if in.n.Status().Role == RoleLeader {
			return in
		}
	}
	return nil
}

// A shed across three instances reaches every owner's miners in batches: far fewer requests
// than orders, every instance's share carried out and recorded as commanded by its owner,
// and the site brought under its limit.
func TestBatchShedReachesEveryOwner(t *testing.T) {
	const miners = 40 // per instance: 420 kW of mining
	ms := &meteredSite{running: map[string]bool{}}
	const limit = 500.0
	pc := meteredPolicy(limit)
	all, w := startMeteredSite(t, "bs", miners, pc, ms, nil)
	// The other load leaves room for a quarter of the fleet: the shed takes miners of every
	// instance.
	ms.mu.Lock()
	ms.base = limit - 0.25*3*miners*3.5
	ms.mu.Unlock()
	waitFor(t, "the site under its limit", func() bool { return ms.importKW() <= limit-pc.MarginKW })
	paused := 0
	for _, in := range all {
		k := in.owner.count(policy.ActionPause)
		if k == 0 {
			t.Errorf("%s: none of its miners shed; the shed did not reach every owner", in.n.Instance())
		}
		paused += k
		for i := range miners {
			id := fmt.Sprintf("%s-%d", in.n.Instance(), i)
			if in.owner.action(id) == policy.ActionPause && in.n.commandedOf(id) != policy.ActionPause {
				t.Errorf("%s paused by its firmware, not recorded as commanded by its owner", id)
			}
		}
	}
	// The test's own subscription may hear the leader's batches after the owners carried
	// them out (a loaded box: 2 of 3 batches seen when the site was under its limit): read
	// the counts once it has heard an order for every pause.
	var requests, batched int
	waitFor(t, "an order heard for every pause", func() bool {
		requests, batched = w.counts()
		w.mu.Lock()
		singles := w.singles
		w.mu.Unlock()
		return batched+singles >= paused
	})
	t.Logf("%d miners paused by %d requests (%d orders in batches)", paused, requests, batched)
	if paused < 85 {
		t.Fatalf("%d miners paused for a shed of about 90", paused)
	}
	if batched < paused/2 || requests > paused/3 {
		t.Fatalf("%d requests, %d orders in batches for %d pauses: the shed was not batched", requests, batched, paused)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.batches {
		for _, d := range b.Decisions {
			if !strings.HasPrefix(d.MinerID, b.Owner+"-") {
				t.Fatalf("a batch for %s carries %s", b.Owner, d.MinerID)
			}
		}
	}
}

// Orders failing inside a batch fail exactly their own decisions: the leader's Runner counts
// a failure and the owner's error for those miners and none for the batch's others, which
// are carried out.
func TestBatchPartialFailureMapsBack(t *testing.T) {
	const miners = 20
	ms := &meteredSite{running: map[string]bool{}}
	fail := map[string]bool{"i0-3": true, "i1-7": true, "i2-11": true, "i2-12": true}
	const limit = 300.0 // 210 kW of mining fits
	pc := meteredPolicy(limit)
	all, w := startMeteredSite(t, "bf", miners, pc, ms, fail)
	ms.mu.Lock()
	ms.base = limit + 50 // above the limit alone: every miner is shed
	ms.mu.Unlock()
	waitFor(t, "every miner that can pause paused", func() bool {
		k := 0
		for _, in := range all {
			k += in.owner.count(policy.ActionPause)
		}
		return k == 3*miners-len(fail)
	})
	var l *meteredInstance
	waitFor(t, "the leader's Runner counting a failure for every failing miner", func() bool {
		if l = leaderOf(all); l == nil || l.n.Runner() == nil {
			return false
		}
		for _, m := range l.n.Runner().Snapshot().Miners {
			if fail[m.ID] && m.Failures == 0 {
				return false
			}
		}
		return true
	})
	for _, m := range l.n.Runner().Snapshot().Miners {
		switch {
		case fail[m.ID] && !strings.Contains(m.LastErr, "refused by the test firmware"):
			t.Errorf("%s failed with %q, not its owner's error", m.ID, m.LastErr)
		case !fail[m.ID] && (m.Failures != 0 || m.LastErr != ""):
			t.Errorf("%s: %d failures (%q) for another miner's failure", m.ID, m.Failures, m.LastErr)
		}
	}
	// The failing orders travelled in batches with others. The test's subscription may hear
	// the batches after the owners answered them: it is read until it has heard every order.
	mixed := false
	waitFor(t, "every order of the shed heard", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		heard := w.singles
		for _, b := range w.batches {
			f := 0
			for _, d := range b.Decisions {
				if fail[d.MinerID] {
					f++
				}
			}
			mixed = mixed || f > 0 && f < len(b.Decisions)
			heard += len(b.Decisions)
		}
		return mixed || heard >= 3*miners
	})
	if !mixed {
		t.Fatal("no batch carried a failing order along with others")
	}
}
