package proxy

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/stratum/sv2"
)

// flood writes batches from next to w until a write fails (the proxy hung up) or stop is set;
// it never reads.
func flood(w func([]byte) error, next func() []byte, stop *atomic.Bool) {
	for !stop.Load() {
		if w(next()) != nil {
			return
		}
	}
}

// TestSlowMinerWarnedOnceV1: a V1 miner that sends requests and never reads its replies fills
// its send queue: it is disconnected, counted once as slow_miner_disconnected and warned about
// once, with the replies dropped after that in one line when it is gone. An honest miner keeps
// mining throughout.
func TestSlowMinerWarnedOnceV1(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.SendQueue = 8
	var logs syncBuffer
	log := zerolog.New(&logs)
	px, addr := startProxy(t, cfg, Options{Logger: &log})
	honest := startMiners(t, addr, 1, "rack6", nil)[0]
	eventually(t, "the honest miner mining", func() bool { return sp.AcceptedBy("acct.rack6.m00") > 0 })

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	var stop atomic.Bool
	defer stop.Store(true)
	id := 0
	go flood(func(b []byte) error { _, err := c.Write(b); return err }, func() []byte {
		var b strings.Builder
		for range 500 {
			id++
			b.WriteString(`{"id":` + strconv.Itoa(id) + `,"method":"mining.extranonce.subscribe","params":[]}` + "\n")
		}
		return []byte(b.String())
	}, &stop)

	eventually(t, "the slow miner disconnected", func() bool { return px.Status().Drops["slow_miner_disconnected"] > 0 && len(px.Workers()) == 1 })
	stop.Store(true)
	if n := px.Status().Drops["slow_miner_disconnected"]; n != 1 {
		t.Fatalf("one slow miner counted %d times", n)
	}
	if n := logs.count("miner is not reading its replies"); n != 1 {
		t.Fatalf("warned %d times about one slow miner", n)
	}
	if n := logs.count("slow miner gone"); n > 1 {
		t.Fatalf("dropped replies reported %d times", n)
	}
	stillMiningV1(t, honest)
	wantEachKeyOnce(t, &logs)
}

// TestSlowMinerWarnedOnceV2: the same for an SV2 device that sends frames the proxy answers
// (UpdateChannel for a channel it never opened) and never reads.
func TestSlowMinerWarnedOnceV2(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.SendQueue = 8
	k := newV2Keys(t)
	var logs syncBuffer
	log := zerolog.New(&logs)
	px, _ := startProxy(t, cfg, Options{Logger: &log})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	honest := startMiners2(t, a.String(), k.authority.PublicKey(), 1, "rack6", nil)[0]
	eventually(t, "the honest device mining", func() bool { return sp.AcceptedBy("acct.rack6.v00") > 0 })

	r := dialRawV2(t, a.String(), k.authority.PublicKey())
	r.setup(0)
	r.raw.(*net.TCPConn).SetReadBuffer(4096)
	frame := mustFrame(t, &sv2.UpdateChannel{ChannelID: 99, NominalHashRate: 1, MaximumTarget: allOnes()})
	batch := []byte(strings.Repeat(string(frame), 500))
	var stop atomic.Bool
	defer stop.Store(true)
	go flood(func(b []byte) error { _, err := r.nc.Write(b); return err }, func() []byte { return batch }, &stop)

	eventually(t, "the slow device disconnected", func() bool { return px.Status().Drops["slow_miner_disconnected"] > 0 })
	stop.Store(true)
	if n := px.Status().Drops["slow_miner_disconnected"]; n != 1 {
		t.Fatalf("one slow device counted %d times", n)
	}
	if n := logs.count("miner is not reading"); n != 1 {
		t.Fatalf("warned %d times about one slow device", n)
	}
	stillMining(t, honest)
	wantEachKeyOnce(t, &logs)
}

// stillMiningV1 waits for a V1 miner to get more shares accepted on its first connection.
func stillMiningV1(t *testing.T, m *miner.Miner) {
	t.Helper()
	n := m.Stats.Accepted.Load()
	eventually(t, m.Worker()+" still mining", func() bool { return m.Stats.Accepted.Load() > n+2 })
	if m.Stats.Connects.Load() != 1 {
		t.Fatalf("%s reconnected", m.Worker())
	}
}
