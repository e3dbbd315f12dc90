package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// A decision is stored when it is made, before its firmware answers, and a restart restores
// a stored pause as decided (power.Controller's resume). So when a pause is abandoned (its
// gate rolled back to the command carried out), that command must become the stored state:
// otherwise the next start gates a miner whose firmware runs, and reports it paused to the
// site's leader, which then counts 0 kW for a miner drawing its full power.

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	sc := store.DefaultConfig()
	sc.Path, sc.PruneInterval = path, 0
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// storedPausesOf counts the miners of ids whose last stored state is a pause.
func storedPausesOf(t *testing.T, st *store.Store, ids []string) int {
	t.Helper()
	last, err := st.LastStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, id := range ids {
		if last[id].Action == policy.ActionPause.String() {
			k++
		}
	}
	return k
}

// restartGated starts a power.Controller fed into a fresh cluster Node over the store at
// path, as the next run of the instance does, and returns how many workers it gates from the
// start.
func restartGated(t *testing.T, path string) int {
	t.Helper()
	st := openStore(t, path)
	defer st.Close()
	pxc := proxy.DefaultConfig()
	pxc.Pools = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://127.0.0.1:1", User: "acct"}}
	px, err := proxy.New(pxc, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "fr", "b", "nats://127.0.0.1:1"
	pc := sitePolicy(1000)
	node, err := New(cc, Options{Policy: pc, Record: power.NewAudit(st)})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := power.New(context.Background(), power.DefaultConfig(), power.Options{Policy: &pc, Proxy: px, Store: st, Sink: node})
	if err != nil {
		t.Fatal(err)
	}
	return ctl.Stats().Gated
}

// The floor Runner stores its pauses as decided; a leader heard before their firmware
// confirmed them stops it, and the gates go back to "run". That "run" is now the stored
// state, so the next start gates none of the miners. Before, the three pauses nobody carried
// out stayed the stored states and the restart held all three gated as paused.
func TestFloorAbandonedPauseNotRestored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	st := openStore(t, path)
	gates, logs := newSlowGates(), &logBuf{}
	n, chief, stop := floorUnderSilentChief(t, "fr2", power.NewAudit(st), gates, logs)
	var paused []string
	gates.mu.Lock()
	for id, a := range gates.want {
		if a == policy.ActionPause {
			paused = append(paused, id)
		}
	}
	gates.mu.Unlock()
	if len(paused) < 3 {
		t.Fatalf("the floor paused %v, want three miners", paused)
	}
	waitFor(t, "the floor's pauses stored", func() bool { return storedPausesOf(t, st, paused) == len(paused) })
	chief.speak(t, n)
	for i := range 4 {
		if a := n.commandedOf(fmt.Sprintf("b-%d", i)); a == policy.ActionPause {
			t.Fatalf("b-%d commanded pause: no firmware confirmed one", i)
		}
	}
	// The rollback's records go through the writer: give it a generous while, then judge.
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && storedPausesOf(t, st, paused) > 0; {
		time.Sleep(20 * time.Millisecond)
	}
	if k := storedPausesOf(t, st, paused); k > 0 {
		t.Fatalf("%d of %v stored as paused after their pauses were abandoned and the inventory reports them running", k, paused)
	}
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if g := restartGated(t, path); g != 0 {
		t.Fatalf("the next start gates %d workers as paused, whose firmware never paused", g)
	}
}

// A leader's pause order cancelled by a newer epoch is abandoned the same way: its gate is
// rolled back when the newer epoch is admitted, and the command carried out becomes the
// stored state in place of the pause recorded as decided when the order arrived.
func TestOrderAbandonedPauseNotRestored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st := openStore(t, path)
	defer st.Close()
	const ttl, stale = time.Second, 50 * time.Second
	gates := newSlowGates()
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	chief := newSilentChief(t, srv.ClientURL(), "fr3", ttl)
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "fr3", "a", srv.ClientURL()
	cc.LeaseTTL, cc.StaleAfter = Duration(ttl), Duration(stale)
	n, err := New(cc, Options{Policy: followerPolicy(), Record: power.NewAudit(st)})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	n.UpsertMiner(policy.Miner{ID: "a1", Worker: "a1", Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
		Commanded: policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: since}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx, gates) }()
	defer func() { cancel(); <-done }()
	chief.speak(t, n)
	old, _ := chief.lease.Held(time.Now())
	body, err := encode(&Order{Epoch: old, Leader: "chief", TimeoutMS: maxOrderTimeout,
		Decision: Decided{MinerID: "a1", Action: Action(policy.ActionPause), FromKW: 3.5, Reason: Reason(policy.ReasonImportLimit)}})
	if err != nil {
		t.Fatal(err)
	}
	reply := make(chan error, 1)
	go func() {
		_, err := chief.nc.Request("hashgate.fr3.cmd.a", body, 2*time.Minute)
		reply <- err
	}()
	waitFor(t, "the pause begun", func() bool { return gates.pausesBegun() == 1 })
	waitFor(t, "the pause stored as decided", func() bool { return storedPausesOf(t, st, []string{"a1"}) == 1 })
	chief.lease.NewTerm()
	waitFor(t, "the chief's new term", func() bool { e, _ := chief.lease.Held(time.Now()); return e > old })
	waitFor(t, "a at the new epoch", func() bool {
		e, _ := chief.lease.Held(time.Now())
		if n.Status().Epoch == e {
			return true
		}
		hb, _ := encode(&Heartbeat{Epoch: e, Leader: "chief"})
		_ = chief.nc.Publish("hashgate.fr3.leader", hb)
		time.Sleep(20 * time.Millisecond)
		return false
	})
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	if got := gates.wants("a1"); got != policy.ActionRun {
		t.Fatalf("a1's gate wants %v after its pause was cancelled, want run", got)
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && storedPausesOf(t, st, []string{"a1"}) > 0; {
		time.Sleep(20 * time.Millisecond)
	}
	if storedPausesOf(t, st, []string{"a1"}) > 0 {
		t.Fatal("a1 stored as paused after its pause order was cancelled; its firmware never paused")
	}
}
