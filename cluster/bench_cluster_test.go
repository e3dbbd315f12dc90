package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// The measurements behind BENCHMARKS.md's "Site across instances" section: three Nodes over a
// real in-process NATS server share a simulated fleet, each carrying out the leader's orders
// on its own miners (a recording Planner stands where the firmware is). They run in real time
// and only when HASHGATE_CLUSTER_BENCH=1: nothing here is asserted against a time.

// benchOwner is one instance's firmware side: it records when each order arrives.
type benchOwner struct {
	mu   sync.Mutex
	got  []benchCmd
	site *meteredSite
}

type benchCmd struct {
	id     string
	action policy.Action
	at     time.Time
}

func (o *benchOwner) Plan([]policy.Decision) {}

func (o *benchOwner) Apply(_ context.Context, d policy.Decision) error {
	now := time.Now()
	o.mu.Lock()
	o.got = append(o.got, benchCmd{d.MinerID, d.Action, now})
	o.mu.Unlock()
	o.site.set(d.MinerID, d.Action)
	return nil
}

// benchAudit keeps the leader's decisions with the time of the step that made them.
type benchAudit struct {
	mu  sync.Mutex
	dec map[string][]benchCmd
}

func (a *benchAudit) RecordDecision(_ context.Context, d policy.Decision) error {
	a.mu.Lock()
	a.dec[d.MinerID] = append(a.dec[d.MinerID], benchCmd{d.MinerID, d.Action, d.Basis.At})
	a.mu.Unlock()
	return nil
}
func (a *benchAudit) RecordEvent(context.Context, policy.Event) error { return nil }

func TestMeasureSiteAcrossInstances(t *testing.T) {
	if os.Getenv("HASHGATE_CLUSTER_BENCH") != "1" {
		t.Skip("set HASHGATE_CLUSTER_BENCH=1 to measure")
	}
	miners := 10_000
	fmt.Sscan(os.Getenv("HASHGATE_CLUSTER_MINERS"), &miners)
	const instances = 3
	e := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	site := &meteredSite{running: map[string]bool{}}
	audit := &benchAudit{dec: map[string][]benchCmd{}}
	pcfg := policy.DefaultConfig()
	fleetKW := 3.5 * float64(miners)
	pcfg.ImportLimitKW, pcfg.MarginKW = fleetKW*2, fleetKW*0.01
	pcfg.Interval = policy.Duration(time.Second)
	pcfg.MinRun, pcfg.MinPause, pcfg.RestoreInterval = policy.Duration(time.Second), policy.Duration(time.Second), policy.Duration(2*time.Second)
	if err := pcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	type inst struct {
		n      *Node
		owner  *benchOwner
		relay  *relay
		cancel context.CancelFunc
		done   chan struct{}
		ids    []string
	}
	var all []*inst
	now := time.Now()
	for i := range instances {
		r := newRelay(t, e.Addr().String())
		cfg := DefaultConfig()
		cfg.Site, cfg.Instance, cfg.NATSURL = "bench", fmt.Sprintf("i%d", i), r.url()
		n, err := New(cfg, Options{Policy: pcfg, Audit: audit})
		if err != nil {
			t.Fatal(err)
		}
		in := &inst{n: n, owner: &benchOwner{site: site}, relay: r, done: make(chan struct{})}
		for j := i; j < miners; j += instances {
			id := fmt.Sprintf("m%05d", j)
			in.ids = append(in.ids, id)
			site.set(id, policy.ActionRun)
			n.UpsertMiner(policy.Miner{ID: id, Worker: id, Group: "rack", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
				Commanded: policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: now.Add(-time.Hour)}})
		}
		ctx, cancel := context.WithCancel(context.Background())
		in.cancel = cancel
		go func() { defer close(in.done); _ = n.Run(ctx, in.owner) }()
		all = append(all, in)
	}
	t.Cleanup(func() {
		for _, in := range all {
			in.cancel()
			<-in.done
		}
	})
	// The meter, read by every instance not cut off every 250 ms, and each miner's telemetry
	// every 10 s (a firmware poll), spread over the period.
	slot := 0
	every(t, 250*time.Millisecond, func(at time.Time) {
		kw := site.importKW()
		for _, in := range all {
			in.n.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: kw, At: at})
			for k := slot; k < len(in.ids); k += 40 {
				site.mu.Lock()
				p := 0.0
				if site.running[in.ids[k]] {
					p = 3.5
				}
				site.mu.Unlock()
				in.n.ObservePower(in.ids[k], p, at)
			}
		}
		slot = (slot + 1) % 40
	})

	leader := func() *inst {
		for _, in := range all {
			if in.n.Status().Role == RoleLeader {
				return in
			}
		}
		return nil
	}
	waitFor(t, "a leader following every instance's whole inventory", func() bool {
		l := leader()
		if l == nil {
			return false
		}
		st := l.n.Status()
		if len(st.Instances) != instances {
			return false
		}
		for _, x := range st.Instances {
			if x.Miners != len(all[0].ids) && x.Miners != len(all[instances-1].ids) {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * DefaultConfig().LeaseTTL.D())
	varz := func() (msgs, bytes int64) {
		v, err := e.s.Varz(nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.InMsgs, v.InBytes
	}
	window := func(what string, d time.Duration) {
		m0, b0 := varz()
		time.Sleep(d)
		m1, b1 := varz()
		s := d.Seconds()
		t.Logf("traffic %s, %d miners: %.0f msgs/s, %.0f bytes/s into the server (%.0f msgs/s, %.0f bytes/s per 10,000 miners)",
			what, miners, float64(m1-m0)/s, float64(b1-b0)/s, float64(m1-m0)/s*10000/float64(miners), float64(b1-b0)/s*10000/float64(miners))
	}
	window("at steady state", 10*time.Second)

	// A shed: the other load rises so that the limit leaves room for 70 % of the fleet.
	shedAt := time.Now()
	site.mu.Lock()
	site.base = pcfg.ImportLimitKW - 0.7*fleetKW
	site.mu.Unlock()
	under := make(chan time.Duration, 1)
	go func() {
		for site.importKW() > pcfg.ImportLimitKW {
			time.Sleep(20 * time.Millisecond)
		}
		under <- time.Since(shedAt)
	}()
	window("during a shed (the 10 s from the step)", 10*time.Second)
	waitFor(t, "the site under its limit", func() bool { return site.importKW() <= pcfg.ImportLimitKW })

	// Decision to command: each order's arrival at its owner after the leader's step.
	var lat []time.Duration
	audit.mu.Lock()
	for _, in := range all {
		in.owner.mu.Lock()
		for _, c := range in.owner.got {
			var best time.Time
			for _, d := range audit.dec[c.id] {
				if d.action == c.action && !d.at.After(c.at) && d.at.After(best) {
					best = d.at
				}
			}
			if !best.IsZero() && best.After(shedAt) {
				lat = append(lat, c.at.Sub(best))
			}
		}
		in.owner.mu.Unlock()
	}
	audit.mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no order matched to a decision")
	}
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("decision to command across instances: %d orders, min %v, p50 %v, p99 %v, max %v", len(lat), lat[0], q(0.5), q(0.99), lat[len(lat)-1])
	var busy, refused uint64
	for _, in := range all {
		st := in.n.Status()
		busy, refused = busy+st.Busy, refused+st.Refused
	}
	t.Logf("shed: the site under its limit %.2f s after the step; orders refused busy %d, refused otherwise %d", (<-under).Seconds(), busy, refused)

	// Failover: the leader is cut off from NATS (a crash: it releases nothing); the other load
	// rises again, and the new leader must shed.
	old := leader()
	cutAt := time.Now()
	old.relay.setCut(true)
	site.mu.Lock()
	site.base += 0.1 * fleetKW
	site.mu.Unlock()
	var newLeader time.Duration
	waitFor(t, "a new leader", func() bool {
		for _, in := range all {
			if in != old && in.n.Status().Role == RoleLeader {
				newLeader = time.Since(cutAt)
				return true
			}
		}
		return false
	})
	first := time.Duration(0)
	waitFor(t, "the new leader's first order carried out", func() bool {
		for _, in := range all {
			if in == old {
				continue
			}
			in.owner.mu.Lock()
			for _, c := range in.owner.got {
				if c.at.After(cutAt) && (first == 0 || c.at.Sub(cutAt) < first) {
					first = c.at.Sub(cutAt)
				}
			}
			in.owner.mu.Unlock()
		}
		return first > 0
	})
	t.Logf("failover (lease_ttl %v): new leader %.2f s after the cut, its first order carried out %.2f s after the cut",
		DefaultConfig().LeaseTTL.D(), newLeader.Seconds(), first.Seconds())
}
