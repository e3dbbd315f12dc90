package cluster

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// A snapshot may claim no more parts than the site's miner limit needs (1,049 of 1,000
// miners): a receiver keeps an entry per part it has seen, so a peer claiming a million parts
// is refused and logged, not remembered.
func TestSnapshotPartsBounded(t *testing.T) {
	if maxSnapshotParts != 1049 {
		t.Fatalf("maxSnapshotParts %d, want 1049 (%d miners in messages of %d)", maxSnapshotParts, maxSiteMiners, MaxMinersPerMessage)
	}
	view := ViewOf(policy.Miner{ID: "x1", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5})
	inv := func(inst string, part, parts int) *Inventory {
		return &Inventory{Instance: inst, Boot: 1, Seq: 1, Full: true, Snap: 1, Part: part, Parts: parts, Miners: []MinerView{view}}
	}
	if err := inv("x", maxSnapshotParts-1, maxSnapshotParts).Validate(); err != nil {
		t.Fatalf("the last part of the largest snapshot refused: %v", err)
	}
	if err := inv("x", 5, maxSnapshotParts+1).Validate(); err == nil {
		t.Fatal("a snapshot of more parts than the site can need accepted")
	}

	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	n := runNode(t, srv.ClientURL(), "parts", "a", time.Second, 30*time.Second, newRecordingOwner())
	nc, _ := connect(t, srv.ClientURL())
	bad := n.Status().BadMessages
	// Marshalled directly: encode refuses what Validate refuses.
	body, err := json.Marshal(inv("big", 7, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	publishUntil(t, nc, "hashgate.parts.inv.big", body, "the inflated snapshot refused", func() bool { return n.Status().BadMessages > bad })
	good, err := encode(inv("ok", 0, maxSnapshotParts))
	if err != nil {
		t.Fatal(err)
	}
	publishUntil(t, nc, "hashgate.parts.inv.ok", good, "the bounded snapshot taken", func() bool { _, ok := peerStatus(n, "ok"); return ok })
	if _, ok := peerStatus(n, "big"); ok {
		t.Fatal("the instance behind the inflated snapshot is remembered")
	}
}

// The commands a node carried out are forgotten with their miners: a node does not keep one
// per miner that ever connected, and a miner that comes back is reported as its Controller
// says (what it last applied), not as a command of days ago.
func TestCommandedForgottenWithTheMiner(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Site, cfg.Instance, cfg.NATSURL = "prune", "a", "nats://127.0.0.1:1"
	pcfg := policy.DefaultConfig()
	pcfg.ImportLimitKW = 1000
	n, err := New(cfg, Options{Policy: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	n.local = newRecordingOwner() // what Run sets; the floor Runner's path needs no NATS
	ctx := context.Background()
	const miners = 50
	for i := range miners {
		id := "m" + string(rune('A'+i))
		n.UpsertMiner(policy.Miner{ID: id, Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true})
		if err := n.carryOut(ctx, policy.Decision{MinerID: id, Group: "g", Action: policy.ActionRun, TargetKW: 3.5}, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := commandedLen(n); got != miners {
		t.Fatalf("%d commands kept, want %d", got, miners)
	}
	for i := range miners {
		n.RemoveMiner("m" + string(rune('A'+i)))
	}
	if got := commandedLen(n); got != 0 {
		t.Fatalf("%d commands kept after every miner left", got)
	}
	// An order finishing after its miner left does not bring the entry back.
	if err := n.carryOut(ctx, policy.Decision{MinerID: "gone", Group: "g", Action: policy.ActionPause}, 0, ""); err != nil {
		t.Fatal(err)
	}
	if got := commandedLen(n); got != 0 {
		t.Fatalf("%d commands kept for miners not here", got)
	}
	// mA comes back paused (its Controller applied a pause meanwhile): the view says so.
	n.UpsertMiner(policy.Miner{ID: "mA", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
		Commanded: policy.Command{Action: policy.ActionPause}})
	n.mu.Lock()
	got := n.views["mA"].Commanded.Action
	n.mu.Unlock()
	if got != policy.ActionPause {
		t.Fatalf("mA back with its Controller's pause is reported %v", got)
	}
}

func commandedLen(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.commanded)
}
