package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/miner2"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/sim/pool2"
	"github.com/hashgate/hashgate/stratum/noise"
)

// These tests run the real proxy over loopback TCP and real Noise sessions between the V1 and
// V2 pool simulators and the V1 and V2 miner simulators, in every combination.

// v2Keys is a server static key with a certificate from a fresh authority.
type v2Keys struct {
	authority *noise.AuthorityKey
	static    *noise.KeyPair
	cert      noise.Certificate
}

func newV2Keys(t *testing.T) v2Keys {
	t.Helper()
	a, err := noise.GenerateAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := noise.NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := noise.IssueServerCertificate(a, s, now.Add(-time.Hour), now.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v2Keys{authority: a, static: s, cert: c}
}

// startProxyV2 starts a proxy with a V1 and a V2 listener and returns both addresses.
func startProxyV2(t *testing.T, cfg Config, k v2Keys) (px *Proxy, v1, v2 string) {
	t.Helper()
	px, v1 = startProxy(t, cfg, Options{})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	return px, v1, a.String()
}

func startPool2(t *testing.T, mut func(*pool2.Config)) (*pool2.Pool, string) {
	t.Helper()
	cfg := pool2.DefaultConfig()
	cfg.Difficulty = 1e-5
	cfg.JobInterval = 0
	cfg.BlockInterval = 0
	if mut != nil {
		mut(&cfg)
	}
	p, err := pool2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, addr
}

func v2URL(p *pool2.Pool, addr string) string {
	return "stratum2+tcp://" + addr + "/" + p.AuthorityKey()
}

func startMiners2(t *testing.T, addr string, auth noise.AuthorityPublicKey, n int, prefix string, mut func(i int, c *miner2.Config)) []*miner2.Miner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var ms []*miner2.Miner
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		c := miner2.Config{Addr: addr, Authority: auth, User: fmt.Sprintf("%s.v%02d", prefix, i), HashRate: 100000, VersionRolling: i%2 == 0, Standard: i%2 == 1}
		if mut != nil {
			mut(i, &c)
		}
		m := miner2.New(c)
		ms = append(ms, m)
		go func() { m.Run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range ms {
			<-done
		}
	})
	return ms
}

func allAccepted2(ms []*miner2.Miner) bool {
	for _, m := range ms {
		if m.Stats.Accepted.Load() == 0 {
			return false
		}
	}
	return true
}

func noRejects2(t *testing.T, ms []*miner2.Miner) {
	t.Helper()
	for _, m := range ms {
		if r := m.Rejects(); len(r) != 0 {
			t.Fatalf("honest V2 miner got rejects: %v", r)
		}
	}
}

func TestV2MinersThroughProxyToV1Pool(t *testing.T) {
	sp, paddr := startPool(t, nil)
	k := newV2Keys(t)
	px, _, a2 := startProxyV2(t, testConfig(paddr), k)
	ms := startMiners2(t, a2, k.authority.PublicKey(), 4, "rack5", nil)
	eventually(t, "every V2 miner to get a pool-accepted share", func() bool {
		for i := range ms {
			if sp.AcceptedBy(fmt.Sprintf("acct.rack5.v%02d", i)) == 0 {
				return false
			}
		}
		return allAccepted2(ms)
	})
	noRejects2(t, ms)
	if n := sp.Connections(); n != 1 {
		t.Fatalf("pool sees %d connections, want 1", n)
	}
	ws := px.Workers()
	if len(ws) != 4 {
		t.Fatalf("%d workers, want 4", len(ws))
	}
	for _, w := range ws {
		if w.Protocol != "sv2" || w.State != "running" {
			t.Fatalf("worker row %+v", w)
		}
	}
	if st := px.Status(); st.Shares["pool_rejected"] != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestV1MinersThroughProxyToV2Pool(t *testing.T) {
	sp, paddr := startPool2(t, func(c *pool2.Config) { c.Witness = true })
	cfg := testConfig()
	cfg.Pools = []PoolConfig{{Name: "v2pool", URL: v2URL(sp, paddr), User: "acct", Priority: 0}}
	px, addr := startProxy(t, cfg, Options{})
	ms := startMiners(t, addr, 4, "rack6", nil)
	eventually(t, "pool accepts shares from the V1 fleet", func() bool {
		for _, m := range ms {
			if m.Stats.Accepted.Load() == 0 {
				return false
			}
		}
		return sp.AcceptedBy("acct") > 4
	})
	for _, m := range ms {
		if r := m.Rejects(); len(r) != 0 {
			t.Fatalf("honest V1 miner got rejects: %v", r)
		}
	}
	if n := sp.Connections(); n != 1 {
		t.Fatalf("pool sees %d connections, want 1", n)
	}
	eventually(t, "verdicts to settle", func() bool {
		st := px.Status()
		return st.Shares["forwarded"] == st.Shares["pool_accepted"]+st.Shares["pool_rejected"]+st.Shares["pool_unknown"]
	})
	if st := px.Status(); st.Shares["pool_rejected"] != 0 || st.Shares["pool_accepted"] != sp.Accepted() {
		t.Fatalf("status %+v, pool accepted %d", st.Shares, sp.Accepted())
	}
	// A new block reaches every miner; they keep mining on it.
	before := sp.Accepted()
	sp.NewBlock()
	eventually(t, "shares on the new block", func() bool { return sp.Accepted() > before+4 })
}

func TestV2MinersThroughProxyToV2Pool(t *testing.T) {
	sp, paddr := startPool2(t, nil)
	k := newV2Keys(t)
	cfg := testConfig()
	cfg.Pools = []PoolConfig{{Name: "v2pool", URL: v2URL(sp, paddr), User: "acct", Priority: 0}}
	px, _, a2 := startProxyV2(t, cfg, k)
	ms := startMiners2(t, a2, k.authority.PublicKey(), 4, "rack7", nil)
	eventually(t, "all V2 miners accepted and the pool accepting", func() bool {
		return allAccepted2(ms) && sp.AcceptedBy("acct") > 4
	})
	noRejects2(t, ms)
	if st := px.Status(); st.Shares["pool_rejected"] != 0 {
		t.Fatalf("status %+v", st.Shares)
	}
	// A new block reaches every channel as a future job and SetNewPrevHash. (Shares racing
	// the block may be stale now; that is the truth, not a fault.)
	before := sp.Accepted()
	sp.NewBlock()
	eventually(t, "shares on the new block", func() bool { return sp.Accepted() > before+4 })
}

func TestMixedFleetOnOneProxy(t *testing.T) {
	sp, paddr := startPool(t, nil)
	k := newV2Keys(t)
	px, a1, a2 := startProxyV2(t, testConfig(paddr), k)
	m1 := startMiners(t, a1, 3, "mix1", nil)
	m2 := startMiners2(t, a2, k.authority.PublicKey(), 3, "mix2", nil)
	eventually(t, "V1 and V2 miners all accepted by the pool", func() bool {
		for i := 0; i < 3; i++ {
			if sp.AcceptedBy(fmt.Sprintf("acct.mix1.m%02d", i)) == 0 || sp.AcceptedBy(fmt.Sprintf("acct.mix2.v%02d", i)) == 0 {
				return false
			}
		}
		return true
	})
	noRejects2(t, m2)
	seen := map[string]bool{}
	for _, w := range px.Workers() {
		if seen[w.Extranonce1] {
			t.Fatalf("extranonce prefix %s handed out twice", w.Extranonce1)
		}
		seen[w.Extranonce1] = true
	}
	if len(seen) != 6 || sp.Connections() != 1 {
		t.Fatalf("%d distinct prefixes, %d pool connections", len(seen), sp.Connections())
	}
	for _, m := range m1 {
		if len(m.Rejects()) != 0 {
			t.Fatalf("V1 rejects %v", m.Rejects())
		}
	}
}

func TestFailoverBetweenV1AndV2Pools(t *testing.T) {
	primary, a1 := startPool(t, func(c *simpool.Config) { c.Seed = 7; c.Extranonce2Size = 8 })
	backup, a2 := startPool2(t, func(c *pool2.Config) { c.Seed = 8 })
	k := newV2Keys(t)
	cfg := testConfig(a1)
	cfg.Pools = append(cfg.Pools, PoolConfig{Name: "pool1", URL: v2URL(backup, a2), User: "acct", Priority: 1})
	cfg.RejectWindow = 10
	cfg.RejectFailover = 0.8
	px, pa1, pa2 := startProxyV2(t, cfg, k)
	m1 := startMiners(t, pa1, 2, "fo1", nil)
	m2 := startMiners2(t, pa2, k.authority.PublicKey(), 2, "fo2", nil)
	eventually(t, "mining on the V1 primary", func() bool { return primary.Accepted() > 8 })
	primary.SetMode(simpool.RejectAll)
	eventually(t, "failover to the V2 backup", func() bool {
		return backup.Accepted() > 8 && px.Status().ActivePool == "pool1"
	})
	after := map[*miner2.Miner]uint64{}
	for _, m := range m2 {
		after[m] = m.Stats.Accepted.Load()
	}
	eventually(t, "every miner mining on the backup", func() bool {
		for _, m := range m2 {
			if m.Stats.Accepted.Load() <= after[m] {
				return false
			}
		}
		return true
	})
	for _, m := range m1 {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("V1 miner reconnected %d times", m.Stats.Connects.Load())
		}
	}
	for _, m := range m2 {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("V2 miner reconnected %d times", m.Stats.Connects.Load())
		}
	}
	// And back: the primary behaves again and restarts (a fresh session is judged afresh),
	// then the V2 backup goes away.
	primary.SetMode(simpool.Normal)
	primary.DisconnectAll()
	backup.Close()
	before := primary.Accepted()
	eventually(t, "fail back to the V1 primary", func() bool {
		return primary.Accepted() > before+8 && px.Status().ActivePool == "pool0"
	})
}
