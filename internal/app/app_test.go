package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/store"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestartKeepsPausedMinersPaused: a miner the policy had paused before a restart gets no
// work when it reconnects to the restarted hashgate — the fleet is never briefly released
// while the policy catches up.
func TestRestartKeepsPausedMinersPaused(t *testing.T) {
	dir := t.TempDir()
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(dir, "hashgate.db")
	// The previous run's last decision: rack1.a paused (for a shed), rack1.b running.
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.RecordDecisions(context.Background(),
		store.Decision{Time: now, MinerID: "rack1.a", Action: "pause", ReasonCode: "import_limit", Reason: "shed"},
		store.Decision{Time: now, MinerID: "rack1.b", Action: "run", TargetKW: 3.5, ReasonCode: "restore", Reason: "restore"},
	); err != nil {
		t.Fatal(err)
	}
	st.Close()

	_, paddr := startTestPool(t)

	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Store = sc
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.MinPause = policy.Duration(time.Hour) // the restored pause must hold; nothing may restart it
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ma := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "rack1.a", HashRate: 50000})
	mb := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "rack1.b", HashRate: 50000})
	go ma.Run(ctx)
	go mb.Run(ctx)
	waitFor(t, "the running miner to get work", func() bool { return mb.Stats.Jobs.Load() > 0 })
	// Let the runner see both miners and step several times.
	waitFor(t, "the runner to know both miners", func() bool {
		return len(a.Power.Runner().Snapshot().Miners) == 2
	})
	steps := a.Power.Runner().Snapshot().Steps
	waitFor(t, "more policy steps", func() bool { return a.Power.Runner().Snapshot().Steps > steps+5 })
	if n := ma.Stats.Jobs.Load(); n != 0 {
		t.Fatalf("the restored paused miner received %d jobs", n)
	}
	for _, w := range a.Proxy.Workers() {
		if w.Worker == "rack1.a" && w.State != "paused" {
			t.Fatalf("rack1.a is %s, want paused", w.State)
		}
	}
}
