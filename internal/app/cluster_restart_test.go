package app

import (
	"context"
	"testing"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/sim/miner"
)

// A follower restarted on its store keeps the miner the leader paused gated: the follower
// stored the leader's order, its power controller restores it before the proxy takes the
// miner, and the restarted instance follows the leader with the miner still paused. Its gate
// is never opened by the restart (gate-only miners have no firmware to keep them asleep).
func TestClusterFollowerRestartKeepsItsPause(t *testing.T) {
	_, paddr := startTestPool(t)
	embed, reach := siteNATS(t)
	a := startClusterApp(t, paddr, "hall-a", embed, 50)
	waitFor(t, "hall-a leading", func() bool { return a.Cluster.Runner() != nil })

	f := clusterFile(t, paddr, "hall-b", reach, 50)
	b := startApp(t, &f)
	stopMiner := runMinerStoppable(t, b, "rack1.b0")
	waitFor(t, "hall-b's miner paused by hall-a's policy and the pause in hall-b's store", func() bool {
		last, err := b.Store.LastStates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return workerState(b, "rack1.b0") == "paused" && last["rack1.b0"].Action == "pause" &&
			b.Cluster.Status().Leader == "hall-a"
	})
	stopMiner()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = startApp(t, &f)
	if h := b.Power.Holds("rack1.b0"); h&power.HoldRestart == 0 {
		t.Fatalf("hall-b restarted without the restart hold on rack1.b0: %v", h)
	}
	runMiner(t, b, "rack1.b0")
	first := ""
	waitFor(t, "the miner connected to the restarted hall-b", func() bool {
		first = workerState(b, "rack1.b0")
		return first != ""
	})
	if first != "paused" {
		t.Fatalf("rack1.b0 is %q on its first connection after the restart", first)
	}
	waitFor(t, "hall-b following hall-a again, its miner still paused", func() bool {
		st := b.Cluster.Status()
		return st.Role == cluster.RoleFollower && st.Leader == "hall-a" && workerState(b, "rack1.b0") == "paused" && b.Power.Holds("rack1.b0") != 0
	})
}

// runMinerStoppable is runMiner with a stop that waits for the miner to end.
func runMinerStoppable(t *testing.T, a *App, name string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: name, HashRate: 20000}).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() { cancel(); <-done }
}
