package proxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// poolRow is the proxy's row for the named pool (ok false when it has none).
func poolRow(px *Proxy, name string) (PoolStats, bool) {
	for _, st := range px.Pools() {
		if st.Name == name {
			return st, true
		}
	}
	return PoolStats{}, false
}

func activeIs(px *Proxy, name string) func() bool {
	return func() bool { return px.Status().ActivePool == name }
}

func connects(ms []*miner.Miner) uint64 {
	var n uint64
	for _, m := range ms {
		n += m.Stats.Connects.Load()
	}
	return n
}

// TestPoolsRuntimeAddEditRemove: a pool added at run time connects and shows up; the active
// pool's url moved to another simulated pool takes the miners' shares there without a miner
// reconnecting; a removed pool's connections close and its row goes.
func TestPoolsRuntimeAddEditRemove(t *testing.T) {
	spA, addrA := startPool(t, nil)
	spB, addrB := startPool(t, nil)
	spC, addrC := startPool(t, nil)
	px, addr := startProxy(t, testConfig(addrA), Options{})
	ms := startMiners(t, addr, 3, "rack", nil)
	eventually(t, "shares at pool A", func() bool { return spA.Accepted() >= 3 })
	conns := connects(ms)

	set := px.PoolConfigs()
	set = append(set, PoolConfig{Name: "backup", URL: "stratum+tcp://" + addrB, User: "acct", Password: "x", Priority: 5})
	if err := px.SetPools(set); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the added pool to connect", func() bool {
		st, ok := poolRow(px, "backup")
		return ok && st.State == "up" && st.Connections == 1 && spB.Connections() == 1
	})
	if st, _ := poolRow(px, "backup"); st.Priority != 5 || st.Active {
		t.Fatalf("added pool row: %+v", st)
	}

	// Move the active pool to C.
	set = px.PoolConfigs()
	if set[0].Name != "pool0" {
		t.Fatalf("priority order: %+v", set)
	}
	set[0].URL = "stratum+tcp://" + addrC
	if err := px.SetPools(set); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pool A's connection to close", func() bool { return spA.Connections() == 0 })
	before := spC.Accepted()
	eventually(t, "shares at pool C, the edited pool's new url", func() bool { return spC.Accepted() >= before+3 })
	eventually(t, "pool0 active again", activeIs(px, "pool0"))
	if st, _ := poolRow(px, "pool0"); st.URL != "stratum+tcp://"+addrC {
		t.Fatalf("edited row: %+v", st)
	}
	if got := connects(ms); got != conns {
		t.Fatalf("miners reconnected %d times for a pool edit", got-conns)
	}
	if n := px.Status().Miners; n != 3 {
		t.Fatalf("%d miners connected after the edit", n)
	}

	// Remove the backup.
	if err := px.SetPools(px.PoolConfigs()[:1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed pool's connection to close", func() bool { return spB.Connections() == 0 })
	if _, ok := poolRow(px, "backup"); ok || len(px.Pools()) != 1 {
		t.Fatalf("rows after removal: %+v", px.Pools())
	}
	// Let pool B's session be seen closed for good: no redial after removal.
	spB.DisconnectAll()
	before = spC.Accepted()
	eventually(t, "mining to go on at C", func() bool { return spC.Accepted() >= before+3 })
	if spB.Connections() != 0 {
		t.Fatal("a removed pool was dialled again")
	}
}

// TestPoolsRuntimeReorder: after a reorder the failover order is the new one: with the
// primary gone the miners go to the pool moved up, not the one that was next before.
func TestPoolsRuntimeReorder(t *testing.T) {
	spA, addrA := startPool(t, nil)
	spB, addrB := startPool(t, nil)
	spC, addrC := startPool(t, nil)
	px, addr := startProxy(t, testConfig(addrA, addrB, addrC), Options{})
	startMiners(t, addr, 2, "rack", nil)
	eventually(t, "shares at pool A", func() bool { return spA.Accepted() >= 2 })

	set := px.PoolConfigs() // pool0 (A) 0, pool1 (B) 1, pool2 (C) 2
	set[1].Priority, set[2].Priority = 2, 1
	if err := px.SetPools(set); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, st := range px.Pools() {
		names = append(names, st.Name)
	}
	if strings.Join(names, ",") != "pool0,pool2,pool1" {
		t.Fatalf("order after reorder: %v", names)
	}
	if spB.Connections() != 1 || spC.Connections() != 1 {
		t.Fatal("a reorder redialled a pool")
	}
	spA.Close()
	eventually(t, "failover to pool2 (C), now second", activeIs(px, "pool2"))
	before := spC.Accepted()
	eventually(t, "shares at C", func() bool { return spC.Accepted() >= before+2 })
	if spB.Accepted() != 0 {
		t.Fatalf("pool B got %d shares", spB.Accepted())
	}
}

// TestPoolsRuntimeForce: a forced switch takes the miners to a standby pool at once and holds
// while it is up; a forced pool that fails is let go and failover by priority protects the
// miners; forcing a down or unknown pool is refused.
func TestPoolsRuntimeForce(t *testing.T) {
	spA, addrA := startPool(t, nil)
	spB, addrB := startPool(t, nil)
	px, addr := startProxy(t, testConfig(addrA, addrB), Options{})
	startMiners(t, addr, 2, "rack", nil)
	eventually(t, "shares at pool A", func() bool { return spA.Accepted() >= 2 })
	eventually(t, "pool B up", func() bool { st, _ := poolRow(px, "pool1"); return st.State == "up" })

	if err := px.ForcePool("nope"); !errors.Is(err, ErrPoolNotFound) {
		t.Fatalf("unknown pool: %v", err)
	}
	if err := px.ForcePool("pool1"); err != nil {
		t.Fatal(err)
	}
	if !activeIs(px, "pool1")() {
		t.Fatal("the forced pool is not active at once")
	}
	if st, _ := poolRow(px, "pool1"); !st.Forced || px.ForcedPool() != "pool1" {
		t.Fatalf("forced row: %+v", st)
	}
	before := spB.Accepted()
	eventually(t, "shares at the forced pool", func() bool { return spB.Accepted() >= before+4 })
	if !activeIs(px, "pool1")() {
		t.Fatal("the forced pool lost the miners while up")
	}
	if px.ClearForcedPool("pool0") {
		t.Fatal("cleared a force on a pool that was not forced")
	}

	// The forced pool fails: the miners go back by priority and the force is gone.
	spB.Close()
	eventually(t, "failover to pool0", activeIs(px, "pool0"))
	if px.ForcedPool() != "" {
		t.Fatal("a failed pool stays forced")
	}
	if err := px.ForcePool("pool1"); !errors.Is(err, ErrPoolDown) {
		t.Fatalf("forcing a down pool: %v", err)
	}
	before = spA.Accepted()
	eventually(t, "shares at pool A again", func() bool { return spA.Accepted() >= before+2 })
}

// TestPoolsRuntimeForceClear: clearing a force hands the miners back to priority order.
func TestPoolsRuntimeForceClear(t *testing.T) {
	spA, addrA := startPool(t, nil)
	_, addrB := startPool(t, nil)
	px, addr := startProxy(t, testConfig(addrA, addrB), Options{})
	startMiners(t, addr, 1, "rack", nil)
	eventually(t, "pool B up", func() bool { st, _ := poolRow(px, "pool1"); return st.State == "up" })
	eventually(t, "shares at pool A", func() bool { return spA.Accepted() >= 1 })
	if err := px.ForcePool("pool1"); err != nil {
		t.Fatal(err)
	}
	if !px.ClearForcedPool("pool1") || px.ForcedPool() != "" {
		t.Fatal("force not cleared")
	}
	eventually(t, "the primary to take the miners back", activeIs(px, "pool0"))
}

// TestPoolsRuntimeInvalid: a bad set is refused whole, naming the key, and changes nothing.
func TestPoolsRuntimeInvalid(t *testing.T) {
	_, addrA := startPool(t, nil)
	px, _ := startProxy(t, testConfig(addrA), Options{})
	good := PoolConfig{Name: "b", URL: "stratum+tcp://127.0.0.1:1", User: "u"}
	for want, set := range map[string][]PoolConfig{
		"pool: at least one":                  nil,
		"pool[1].url: unsupported":            {px.PoolConfigs()[0], {Name: "b", URL: "http://x:1", User: "u"}},
		"pool[1].url: bad port":               {px.PoolConfigs()[0], {Name: "b", URL: "stratum+tcp://x:0", User: "u"}},
		"pool[1].name: \"pool0\" used twice":  {px.PoolConfigs()[0], {Name: "pool0", URL: good.URL, User: "u"}},
		"pool[1].user: must be set":           {px.PoolConfigs()[0], {Name: "b", URL: good.URL}},
		"pool[1].name: must be set":           {px.PoolConfigs()[0], {URL: good.URL, User: "u"}},
		"pool[1].name: at most 64":            {px.PoolConfigs()[0], {Name: strings.Repeat("n", 65), URL: good.URL, User: "u"}},
		"pool[1].url: stratum2+tcp URL needs": {px.PoolConfigs()[0], {Name: "b", URL: "stratum2+tcp://x:1", User: "u"}},
	} {
		err := px.SetPools(set)
		if !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	if n := len(px.Pools()); n != 1 {
		t.Fatalf("%d pools after refused sets", n)
	}
	if err := (PoolConfig{Name: "b", URL: "stratum+ssl://h", User: "u"}).Validate(); !errors.Is(err, ErrInvalidPool) ||
		!strings.HasPrefix(err.Error(), "invalid pool: pool.url: URL needs host:port") {
		t.Fatalf("one pool: %v", err)
	}

	// A commit that fails (the store, in the wiring) leaves the running set alone; one that
	// succeeds sees the validated set before it applies.
	add := func(cur []PoolConfig) ([]PoolConfig, error) { return append(cur, good), nil }
	boom := errors.New("disk full")
	if err := px.EditPools(add, func([]PoolConfig) error { return boom }); !errors.Is(err, boom) || len(px.Pools()) != 1 {
		t.Fatalf("failed commit: %v, %d pools", err, len(px.Pools()))
	}
	var seen []PoolConfig
	if err := px.EditPools(add, func(next []PoolConfig) error { seen = next; return nil }); err != nil || len(seen) != 2 || len(px.Pools()) != 2 {
		t.Fatalf("commit saw %+v (%v), %d pools", seen, err, len(px.Pools()))
	}
}

// TestPoolsRuntimeBeforeStart: a set given before Start is the one Start dials.
func TestPoolsRuntimeBeforeStart(t *testing.T) {
	_, addrA := startPool(t, nil)
	spB, addrB := startPool(t, nil)
	px, err := New(testConfig(addrA), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := px.SetPools([]PoolConfig{{Name: "b", URL: "stratum+tcp://" + addrB, User: "acct"}}); err != nil {
		t.Fatal(err)
	}
	px.Start(t.Context())
	t.Cleanup(func() { px.Close() })
	eventually(t, "pool b up", func() bool { st, _ := poolRow(px, "b"); return st.State == "up" && spB.Connections() == 1 })
}

// TestPoolsRuntimeRemovedPoolLeavesTheLayout: a pool removed before the miners' extranonce
// layout is fixed no longer constrains it. Pool B leaves 3 bytes of extranonce2, too few for a
// 2-byte prefix and 2 bytes a miner; once it is removed the first miner mines on A's 8.
func TestPoolsRuntimeRemovedPoolLeavesTheLayout(t *testing.T) {
	spA, addrA := startPool(t, nil)
	_, addrB := startPool(t, func(c *simpool.Config) { c.Extranonce2Size = 3 })
	px, addr := startProxy(t, testConfig(addrA, addrB), Options{})
	eventually(t, "both pools to send work", func() bool {
		a, _ := poolRow(px, "pool0")
		b, _ := poolRow(px, "pool1")
		return a.LastJob != nil && b.LastJob != nil
	})
	if err := px.SetPools(px.PoolConfigs()[:1]); err != nil {
		t.Fatal(err)
	}
	ms := startMiners(t, addr, 1, "rack", nil)
	eventually(t, "the miner's shares at A", func() bool { return spA.Accepted() >= 1 && ms[0].Stats.Accepted.Load() >= 1 })
}
