package proxy

import (
	"encoding/json"
	"testing"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// TestSubscribeAnsweredWithNoPoolThenMines: a V1 miner that connects while the only pool is
// down has its subscribe and authorize answered (a provisional layout: prefix_bytes plus the
// 2-byte minimum), not an error and not silence until the setup window ends; it stays
// connected, gets work when the pool comes up and its share reaches the pool.
func TestSubscribeAnsweredWithNoPoolThenMines(t *testing.T) {
	const worker = "rack3.m07"
	dead := refusedAddr(t)
	px, addr := startProxy(t, testConfig(dead), Options{})
	m := dialRaw(t, addr) // replies are read with a 30 s deadline: setup_timeout's default
	m.send(`{"id":1,"method":"mining.subscribe","params":["nopool/1.0"]}`)
	m.send(`{"id":2,"method":"mining.authorize","params":["` + worker + `","x"]}`)
	sub := m.reply("1")
	var sr sv1.SubscribeResult
	if sub.Error != nil || json.Unmarshal(sub.Result, &sr) != nil {
		t.Fatalf("subscribe with no pool: %s %v", sub.Result, sub.Error)
	}
	if sr.Extranonce2Size != work.MinMinerSize || len(sr.Extranonce1) != DefaultConfig().Extranonce.PrefixBytes {
		t.Fatalf("provisional layout: extranonce1 %x, extranonce2_size %d", sr.Extranonce1, sr.Extranonce2Size)
	}
	if a := m.reply("2"); !a.Accepted() {
		t.Fatalf("authorize with no pool: %v", a.Error)
	}
	if row := px.Pools()[0]; row.State != "down" {
		t.Fatalf("the pool came up before the answer: %+v", row)
	}

	cfg := simpool.DefaultConfig()
	cfg.Difficulty, cfg.JobInterval, cfg.BlockInterval = 1e-5, 0, 0
	sp, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Listen(dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)

	sm := &shareMiner{rawMiner: m, worker: worker, en1: sr.Extranonce1, n2: sr.Extranonce2Size, diff: 1, id: 100}
	sm.nextJob()
	poolT := work.MustTarget(1e-5)
	if r := sm.submit(sm.find(func(h *[32]byte) bool { return poolT.Met(h) })); !r.Accepted() {
		t.Fatalf("share once the pool is up: %v", r.Error)
	}
	// Under the worker's name, or the pool user's if it went before the pool answered the
	// worker's authorize (shares do not wait for it).
	eventually(t, "the pool to accept the miner's share", func() bool {
		return sp.AcceptedBy("acct."+worker)+sp.AcceptedBy("acct") == 1
	})
}

// TestV2ChannelOpenedWithNoPoolThenMines: SV2 miners (extended and standard channels) that
// connect while the only pool is down get their channels opened on the provisional layout,
// stay connected and have shares accepted once the pool comes up.
func TestV2ChannelOpenedWithNoPoolThenMines(t *testing.T) {
	k := newV2Keys(t)
	dead := refusedAddr(t)
	px, _, v2 := startProxyV2(t, testConfig(dead), k)
	ms := startMiners2(t, v2, k.authority.PublicKey(), 2, "nopool", nil)
	eventually(t, "the provisional layout with the pool down", func() bool {
		return px.fixedLayout.Load() != nil && px.Status().Miners == 2
	})
	if row := px.Pools()[0]; row.State != "down" {
		t.Fatalf("the pool came up first: %+v", row)
	}
	cfg := simpool.DefaultConfig()
	cfg.Difficulty, cfg.JobInterval, cfg.BlockInterval = 1e-5, 0, 0
	sp, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Listen(dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	eventually(t, "both V2 miners to get a share accepted", func() bool { return allAccepted2(ms) })
	noRejects2(t, ms)
}
