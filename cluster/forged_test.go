package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// peerStatus is inst as n sees it, and whether n knows it.
func peerStatus(n *Node, inst string) (InstanceStatus, bool) {
	for _, s := range n.Status().Instances {
		if s.Name == inst {
			return s, true
		}
	}
	return InstanceStatus{}, false
}

// A publisher on the site's subjects announcing a higher epoch (heartbeat or order) does not
// fence the real leader out: the lease does not show it holding that epoch.
func TestForgedEpochDoesNotFenceTheLeader(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	n := runNode(t, srv.ClientURL(), "g1", "a", time.Second, 3*time.Second, newSlowOwner(t, true))
	waitFor(t, "a leading", func() bool { return n.Status().Role == RoleLeader })
	epoch := n.Status().Epoch
	nc, _ := connect(t, srv.ClientURL())
	refused := n.Status().Refused
	for i := range 3 {
		hb, _ := encode(&Heartbeat{Epoch: epoch + 1 + uint64(i)<<33, Leader: "mallory"})
		if err := nc.Publish("hashgate.g1.leader", hb); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the forged heartbeats refused", func() bool { return n.Status().Refused >= refused+3 })
	m := &boss{t: t, nc: nc, site: "g1"}
	if r := <-m.order("a", "a1", epoch+1<<40); r != ErrUnprovenEpoch.Error() {
		t.Fatalf("a forged order of a higher epoch answered %q", r)
	}
	if st := n.Status(); st.Epoch != epoch || st.Role != RoleLeader || st.Leader != "a" {
		t.Fatalf("forged epochs changed the site: %+v", st)
	}
	if n.commandedOf("a1") == policy.ActionRun {
		t.Fatal("the forged order was carried out")
	}
}

// Inventory, telemetry and meter readings must name the instance of their subject; one that
// claims another instance is refused and counted, and takes nothing from it.
func TestClaimsMustMatchTheSubject(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	n := runNode(t, srv.ClientURL(), "g2", "a", time.Second, 3*time.Second, newSlowOwner(t, true))
	waitFor(t, "a leading", func() bool { return n.Status().Role == RoleLeader })
	nc, _ := connect(t, srv.ClientURL())
	pub := func(subj string, m Message) {
		t.Helper()
		b, err := encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subj, b); err != nil {
			t.Fatal(err)
		}
	}
	view := func(id string) MinerView {
		return MinerView{ID: id, Worker: id, Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5}
	}
	pub("hashgate.g2.inv.b", &Inventory{Instance: "b", Boot: 1, Seq: 1, Full: true, Snap: 1, Parts: 1, Miners: []MinerView{view("b1")}})
	waitFor(t, "b known with its miner", func() bool { s, ok := peerStatus(n, "b"); return ok && s.Miners == 1 })
	bad := n.Status().BadMessages
	// From inv.c, a snapshot in b's name without b1 and with a miner of its own.
	pub("hashgate.g2.inv.c", &Inventory{Instance: "b", Boot: 1, Seq: 2, Full: true, Snap: 2, Parts: 1, Miners: []MinerView{view("c9")}})
	pub("hashgate.g2.power.c", &Telemetry{Instance: "b", Power: []PowerSample{{ID: "b1", KW: 99, At: time.Now()}}})
	pub("hashgate.g2.meter.c", &Readings{Instance: "a", Readings: []MeterReading{ReadingOf(policy.Reading{Role: policy.RoleSiteImport, Value: 9999, At: time.Now()})}})
	waitFor(t, "the three claims refused", func() bool { return n.Status().BadMessages >= bad+3 })
	if s, _ := peerStatus(n, "b"); s.Miners != 1 {
		t.Fatalf("b has %d miners after a claim in its name from another subject", s.Miners)
	}
	n.mu.Lock()
	owner, taken := n.owner["b1"], n.owner["c9"]
	_, readings := n.readings[policy.RoleSiteImport]
	n.mu.Unlock()
	if owner != "b" || taken != "" || readings {
		t.Fatalf("owner of b1 %q, of c9 %q, import reading taken %v", owner, taken, readings)
	}
}

// A node remembers at most maxPeers instances, and forgets one silent for forgetAfter
// stale_afters along with its miners.
func TestPeersBoundedAndForgotten(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	// Instances are forgotten after forgetAfter stale_afters of silence. The bound is only
	// seen while every one of the maxPeers+10 inventories arrives inside that window: with
	// 400 ms (2.4 s) the flood, which takes 0.3-1.3 s under -race at load 10, can outlast it
	// on a busier box: the first instances are forgotten before the last come, free their
	// places, and fewer than ten are refused. 2 s gives the flood 12 s.
	const ttl, stale = 300 * time.Millisecond, 2 * time.Second
	n := runNode(t, srv.ClientURL(), "g3", "a", ttl, stale, newSlowOwner(t, true))
	waitFor(t, "a leading", func() bool { return n.Status().Role == RoleLeader })
	nc, _ := connect(t, srv.ClientURL())
	bad := n.Status().BadMessages
	for i := range maxPeers + 10 {
		inst := fmt.Sprintf("p%d", i)
		b, _ := encode(&Inventory{Instance: inst, Boot: 1, Seq: 1, Full: true, Snap: 1, Parts: 1,
			Miners: []MinerView{{ID: inst + "-m", Worker: inst, Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5}}})
		if err := nc.Publish("hashgate.g3.inv."+inst, b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the instances beyond the bound refused", func() bool { return n.Status().BadMessages >= bad+10 })
	if k := len(n.Status().Instances); k > maxPeers {
		t.Fatalf("%d instances remembered, bound %d", k, maxPeers)
	}
	waitFor(t, "the silent instances forgotten", func() bool {
		_, ok := peerStatus(n, "p0")
		return !ok
	})
	n.mu.Lock()
	_, owned := n.owner["p0-m"]
	n.mu.Unlock()
	if owned {
		t.Fatal("a forgotten instance's miner still has its owner")
	}
	if _, ok := peerStatus(n, "a"); !ok {
		t.Fatal("the node forgot itself")
	}
}

// A node whose lease epoch is below one it already obeyed (a lease bucket recreated under a
// clock behind) does not lead: its orders would be refused everywhere, and leading would keep
// it from isolating. It isolates at stale_after and holds its floor.
func TestNoLeadingBelowAnObeyedEpoch(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	n := runNode(t, srv.ClientURL(), "g4", "a", 300*time.Millisecond, time.Second, newSlowOwner(t, true))
	waitFor(t, "a leading", func() bool { return n.Status().Role == RoleLeader })
	n.mu.Lock()
	n.highest += 1 << 40 // an epoch obeyed before the bucket's epochs went back
	n.mu.Unlock()
	waitFor(t, "a isolated instead of leading", func() bool { return n.Status().Role == RoleIsolated })
}

// The site console remembers at most maxPeers instances' cards.
func TestDeskCardsBounded(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	n := runNode(t, srv.ClientURL(), "g5", "a", time.Second, 3*time.Second, newSlowOwner(t, true))
	d := NewDesk(n, &deskSide{}, DeskOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	nc, _ := connect(t, srv.ClientURL())
	waitFor(t, "the desk's own card heard", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.cards) > 0 })
	for i := range maxPeers + 10 {
		inst := fmt.Sprintf("p%d", i)
		b, _ := encode(&Card{Instance: inst, Workers: 1, At: time.Now()})
		if err := nc.Publish("hashgate.g5.card."+inst, b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the cards beyond the bound refused", func() bool { return d.Counters().Refused >= 10 })
	d.mu.Lock()
	k := len(d.cards)
	d.mu.Unlock()
	if k > maxPeers {
		t.Fatalf("%d cards remembered, bound %d", k, maxPeers)
	}
}
