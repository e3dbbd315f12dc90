package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hashgate/hashgate/policy"
)

// deskSide is the instance side of a desk under test: it records the actions it is asked to
// carry out and reports every worker done.
type deskSide struct {
	mu    sync.Mutex
	calls []string
}

func (d *deskSide) Card() Card { return Card{Healthy: true, Workers: 1} }

func (d *deskSide) Operate(_ context.Context, actor string, action OpAction, workers []string) []OpResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]OpResult, len(workers))
	for i, w := range workers {
		d.calls = append(d.calls, actor+" "+string(action)+" "+w)
		out[i] = OpResult{Worker: w, OK: true}
	}
	return out
}

// TestDeskOwnersThatFail: a desk routes each worker to the instance whose inventory lists it
// and reports, per worker, an owner that does not answer, one that answers garbage, one that
// refuses, a worker nobody reports, and its own worker carried out locally; none of them
// stops the others.
func TestDeskOwnersThatFail(t *testing.T) {
	e := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = "s", "a", e.ClientURL()
	pcfg := policy.DefaultConfig()
	pcfg.ImportLimitKW = 1000
	n, err := New(cfg, Options{Policy: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	n.UpsertMiner(policy.Miner{ID: "own1", Worker: "own1", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true})
	side := &deskSide{}
	d := NewDesk(n, side, DeskOptions{OpTimeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = n.Run(ctx, &benchOwner{site: &meteredSite{running: map[string]bool{}}}) }()
	go func() { defer wg.Done(); _ = d.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Three peers that publish an inventory but serve the desk badly. The node may not have
	// subscribed yet: they publish until it has heard them (a repeat is ignored by its Seq).
	publish := func() {
		for inst, worker := range map[string]string{"ghost": "g1", "liar": "l1", "refuser": "r1"} {
			b, err := encode(&Inventory{Instance: inst, Boot: 1, Seq: 1, Full: true, Snap: 1, Parts: 1,
				Miners: []MinerView{{ID: worker, Worker: worker, Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("hashgate.s.inv."+inst, b); err != nil {
				t.Fatal(err)
			}
		}
		_ = nc.Flush()
	}
	if _, err := nc.Subscribe("hashgate.s.op.liar", func(m *nats.Msg) { _ = m.Respond([]byte(`{"results":"all fine"}`)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("hashgate.s.op.refuser", func(m *nats.Msg) {
		b, _ := encode(&OpReply{Err: "maintenance"})
		_ = m.Respond(b)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the desk knowing every owner", func() bool {
		if len(d.owners()) == 4 {
			return true
		}
		publish()
		time.Sleep(50 * time.Millisecond)
		return false
	})

	res, err := d.Operate(context.Background(), "user:olga@a", OpPause, []string{"g1", "l1", "r1", "own1", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ok        bool
		instance  string
		errSubstr string
	}{
		{false, "ghost", "instance ghost did not answer"},
		{false, "liar", "instance liar answered badly"},
		{false, "refuser", "instance refuser refused: maintenance"},
		{true, "a", ""},
		{false, "", ErrNoOwner.Error()},
	}
	for i, w := range want {
		r := res[i]
		if r.OK != w.ok || r.Instance != w.instance || !strings.Contains(r.Error, w.errSubstr) || (w.ok && r.Error != "") {
			t.Errorf("result %d: %+v, want %+v", i, r, w)
		}
	}
	side.mu.Lock()
	defer side.mu.Unlock()
	if len(side.calls) != 1 || side.calls[0] != "user:olga@a pause own1" {
		t.Fatalf("carried out here: %v", side.calls)
	}
	if c := d.Counters(); c.RemoteFailed != 3 {
		t.Fatalf("counters %+v", c)
	}
	// A request the desk itself would refuse never leaves it.
	if _, err := d.Operate(context.Background(), "", OpPause, []string{"g1"}); err == nil {
		t.Fatal("an operate without an actor was sent")
	}
}
