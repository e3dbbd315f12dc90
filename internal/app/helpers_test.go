package app

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
)

// startTestPool runs a simulated V1 pool at an easy difficulty for the test's lifetime.
func startTestPool(t *testing.T) (*pool.Pool, string) {
	t.Helper()
	return startPoolWith(t, nil)
}

// startPoolWith is startTestPool with set (when not nil) applied to the pool's config first.
func startPoolWith(t *testing.T, set func(*pool.Config)) (*pool.Pool, string) {
	t.Helper()
	pc := pool.DefaultConfig()
	pc.Difficulty, pc.JobInterval, pc.BlockInterval = 1e-5, 0, 0
	if set != nil {
		set(&pc)
	}
	sp, err := pool.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	paddr, err := sp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return sp, paddr
}

// runMiners runs a simulated miner per name against a's first listener. stop ends them and
// waits for every one to return; it may be called again (callers defer it).
func runMiners(a *App, names ...string) (ms []*miner.Miner, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	for _, name := range names {
		ms = append(ms, miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: name, HashRate: 50000}))
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); m.Run(ctx) }()
	}
	return ms, func() { cancel(); wg.Wait() }
}

// otherConn is a connection to the SQLite database at dsn outside the store (another
// process, as far as SQLite can tell): BEGIN IMMEDIATE there holds the store's writers off.
func otherConn(t *testing.T, dsn string) *sql.Conn {
	t.Helper()
	other, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// execOn runs stmt on conn: BEGIN IMMEDIATE takes the write lock, ROLLBACK lets it go.
func execOn(t *testing.T, conn *sql.Conn, stmt string) {
	t.Helper()
	if _, err := conn.ExecContext(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
}

// testFile is a config with one listener and one pool on loopback, a store in the test's
// directory and the console on a free port.
func testFile(t *testing.T, l proxy.ListenerConfig, paddr string) config.File {
	f := config.Default()
	f.Listener = []proxy.ListenerConfig{l}
	f.Pool = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://" + paddr, User: "acct"}}
	f.Difficulty = proxy.DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 60, RetargetEvery: proxy.Duration(time.Minute)}
	f.Store.Path = filepath.Join(t.TempDir(), "hashgate.db")
	f.Console.Address = "127.0.0.1:0"
	return f
}

// simSite gives f the policy p, one fleet group rack1.* of 3.5 kW on/off miners and a simulated
// site meter reading a steady 100 kW every 100 ms: the smallest site a policy test runs on.
func simSite(f *config.File, p policy.Config) {
	f.Policy = &p
	f.Fleet = []policy.FleetGroup{{Name: "rack1", Pattern: "rack1.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}}
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source = "grid", meter.RoleSiteImport, meter.KindSim
	m.Trace = []meter.TracePoint{{Offset: 0, Value: 100}}
	m.Loop = true
	m.Interval = meter.Duration(100 * time.Millisecond)
	f.Meter = []meter.Config{m.WithDefaults()}
}
