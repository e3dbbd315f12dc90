package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/template"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// The per-share benchmarks run a miner connection's real share path, without sockets: decode
// the submit, judge it through channel.submit (coinbase, merkle root, header, SHA-256d,
// duplicate and target checks, counting), and encode the answer the writer would send. Every
// share is unique and valid under the miner's target but below the pool's, so nothing is
// forwarded: this is the cost a share puts on the proxy itself.

const benchInputs = 1 << 16

func benchChannel(b testing.TB, proto string) (*Proxy, *channel, *proxyJob, *issuance) {
	b.Helper()
	cfg := testConfig("127.0.0.1:1")
	cfg.SubmitRate = 1e12
	// A difficulty so low that its target is 2^256-1: every share is valid for the miner.
	cfg.Difficulty.Initial, cfg.Difficulty.Min = 1e-11, 1e-11
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	b.Cleanup(p.cancel)
	layout := work.Layout{PrefixSize: 2, MinerSize: 4}
	rng := rand.New(rand.NewPCG(1, 2))
	var prev [32]byte
	binary.LittleEndian.PutUint64(prev[:], rng.Uint64())
	tpl := template.Build(rng, 900000, prev, 0x17030ecd, 4+8, 12)
	j := &work.Job{ID: "1", PrevHash: tpl.Prev, Coinb1: tpl.Coinb1, Coinb2: tpl.Coinb2, Extranonce1: []byte{1, 2, 3, 4},
		Extranonce2Size: 8, Branch: tpl.Branch, Version: tpl.Version, NBits: tpl.NBits, NTime: 1700000000,
		VersionMask: 0x1fffe000, Target: work.MustTarget(1e15)}
	if err := j.Prepare(); err != nil {
		b.Fatal(err)
	}
	cb1, cb2, err := layout.DownstreamCoinbase(j)
	if err != nil {
		b.Fatal(err)
	}
	pj := &proxyJob{localID: "1", seq: 1, job: j, pool: p.poolList()[0], coinb1: cb1, coinb2: cb2, poolDif: 1e15, retire: true, ntime: j.NTime}
	c := p.newChannel(proto, "bench", zerolog.Nop(), func() {})
	c.assign(layout, slot{prefix: 7})
	c.worker, c.authorized = "bench.w", true
	c.mask = 0x1fffe000
	if proto == "sv2" {
		c.mask = sv2.VersionRollingMask
	}
	is, ok := c.issue(pj, offerClean)
	if !ok {
		b.Fatal("issue failed")
	}
	return p, c, pj, &is
}

// resetDups forgets seen shares when the inputs wrap, outside the timer.
func resetDups(b *testing.B, c *channel, id string, i int) {
	if i%benchInputs == benchInputs-1 {
		b.StopTimer()
		c.mu.Lock()
		for i := range c.jobs {
			if c.jobs[i].matches(id) {
				clear(c.jobs[i].dups)
			}
		}
		c.mu.Unlock()
		b.StartTimer()
	}
}

func BenchmarkShareV1(b *testing.B) {
	p, c, pj, is := benchChannel(b, "sv1")
	// holding: replies stay queued as while the reader answers a burst; the loop below takes
	// them as the write would.
	s := &v1Conn{p: p, ch: c, subscribed: true, holding: true, tokens: 1e12, tokensAt: p.clk.Now()}
	lines := make([][]byte, benchInputs)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"id":%d,"method":"mining.submit","params":["bench.w","%s","%08x","%08x","%08x","%08x"]}`,
			i+1, is.id, uint32(i>>16), pj.job.NTime, uint32(i), uint32(i)<<13&0x1fffe000)
	}
	var out []byte
	var sc v1Scratch
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := sv1.DecodeInto(&sc.msg, lines[i%benchInputs]); err != nil {
			b.Fatal(err)
		}
		if err := s.handleSubmit(&sc.msg, &sc.sub); err != nil {
			b.Fatal(err)
		}
		// The write's share of the work: take the reply and copy it out.
		s.outMu.Lock()
		q := s.outq
		s.outq = q[:0]
		s.outMu.Unlock()
		out = out[:0]
		for _, l := range q {
			out = append(out, l...)
		}
		resetDups(b, c, is.id, i)
	}
	b.StopTimer()
	if c.counters.Get(ResultAccepted) != uint64(b.N) {
		b.Fatalf("accepted %d of %d", c.counters.Get(ResultAccepted), b.N)
	}
}

func BenchmarkShareV2(b *testing.B) {
	p, c, pj, is := benchChannel(b, "sv2")
	vc := &v2Chan{id: 2, ch: c, maxTarget: work.Target(allOnes()), tokens: 1e12, tokensAt: p.clk.Now()}
	jid := vc.newJobID(is.id)
	// holding: the acknowledgements stay pending, as while the reader answers a burst; the
	// loop below takes them as the write would.
	s := &v2Conn{p: p, chans: []*v2Chan{vc}, holding: true, setupDone: true}
	frames := make([][]byte, benchInputs)
	for i := range frames {
		x := binary.BigEndian.AppendUint32(nil, uint32(i>>16))
		m := &sv2.SubmitSharesExtended{ChannelID: 2, SequenceNumber: uint32(i), JobID: jid, Nonce: uint32(i), NTime: pj.job.NTime,
			Version: pj.job.Version | uint32(i)<<13&0x1fffe000, Extranonce: x}
		frames[i] = mustFrame(b, m)
	}
	var out []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := frames[i%benchInputs]
		h, _ := sv2.ParseHeader(f)
		m, err := sv2.DecodeMessage(h, f[sv2.HeaderSize:])
		if err != nil {
			b.Fatal(err)
		}
		if err := s.handle(context.Background(), m); err != nil {
			b.Fatal(err)
		}
		// The write's share of the work before encryption, unbatched (one Success per
		// share, the worst case).
		s.outMu.Lock()
		out = s.takeLocked(out[:0])
		s.outMu.Unlock()
		resetDups(b, c, is.id, i)
	}
	b.StopTimer()
	if c.counters.Get(ResultAccepted) != uint64(b.N) {
		b.Fatalf("accepted %d of %d", c.counters.Get(ResultAccepted), b.N)
	}
}

// BenchmarkFleetViews10k compares the policy inventory's view of 10,000 channels with the
// console's full statistics rows.
func BenchmarkFleetViews10k(b *testing.B) {
	cfg := testConfig("127.0.0.1:1")
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		c := p.newChannel("sv1", fmt.Sprintf("10.0.%d.%d:4028", i/256, i%256), zerolog.Nop(), func() {})
		c.worker, c.authorized = fmt.Sprintf("rack%d.m%d", i/100, i), true
		p.addChannel(c)
	}
	b.Run("Identities", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Identities()
		}
	})
	b.Run("Workers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Workers()
		}
	})
}
