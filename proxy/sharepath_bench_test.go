package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// BenchmarkV1ShareLoopback is the whole V1 share path as production runs it: a miner on
// loopback TCP writes mining.submit lines (one write each, `inflight` unanswered at a time,
// like cmd/hashgate-bench's fleet), the proxy's reader reads, decodes and judges them and
// writes the replies. Every share is valid for the miner and none meets the pool's target.
// cpu-ns/op is the process's CPU per answered share, the miner's side on the same cores
// included: the system calls, line framing, decoding, hashing and the reply.
func BenchmarkV1ShareLoopback(b *testing.B) {
	for _, inflight := range []int{1, 4} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchShareLoopback(b, inflight) })
	}
}

func benchShareLoopback(b *testing.B, inflight int) {
	pcfg := simpool.DefaultConfig()
	pcfg.Difficulty = 1e9 // nothing is forwarded
	pcfg.JobInterval, pcfg.BlockInterval = 0, 0
	sp, err := simpool.New(pcfg)
	if err != nil {
		b.Fatal(err)
	}
	paddr, err := sp.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sp.Close)
	cfg := testConfig(paddr)
	cfg.SubmitRate = 1e9
	// A difficulty whose target is 2^256-1: every share is valid for the miner.
	cfg.Difficulty.Initial, cfg.Difficulty.Min = 1e-11, 1e-11
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	p.Start(context.Background())
	b.Cleanup(func() { p.Close() })
	addr, err := p.ListenV1("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	br := bufio.NewReader(c)
	next := func(match func(*sv1.Message) bool) *sv1.Message {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			m, err := sv1.Decode(line)
			if err != nil {
				b.Fatalf("%q: %v", line, err)
			}
			if match(m) {
				return m
			}
		}
	}
	fmt.Fprintf(c, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"bench/1\"]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"bench.w\",\"x\"]}\n")
	var sub sv1.SubscribeResult
	if err := sub.UnmarshalJSON(next(func(m *sv1.Message) bool { return string(m.ID) == "1" }).Result); err != nil {
		b.Fatal(err)
	}
	var n sv1.Notify
	if err := next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify }).UnmarshalParams(&n); err != nil {
		b.Fatal(err)
	}
	en2 := make([]byte, sub.Extranonce2Size)
	var line []byte
	submit := func(i int) {
		// A fresh extranonce2 every 2^16 shares, the nonce rolled under it: what an ASIC does.
		en2[0], en2[len(en2)-1] = byte(i>>24), byte(i>>16)
		line = fmt.Appendf(line[:0], "{\"id\":%d,\"method\":\"mining.submit\",\"params\":[\"bench.w\",\"%s\",\"%x\",\"%08x\",\"%08x\"]}\n",
			i+10, n.JobID, en2, n.NTime, uint32(i))
		if _, err := c.Write(line); err != nil {
			b.Fatal(err)
		}
	}
	sent := 0
	for ; sent < inflight && sent < b.N; sent++ {
		submit(sent)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for got := 0; got < b.N; got++ {
		m := next(func(m *sv1.Message) bool { return m.IsResponse() })
		if !m.Accepted() {
			b.Fatalf("share %s answered %s %v", m.ID, m.Result, m.Error)
		}
		if sent < b.N {
			submit(sent)
			sent++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU this process has used, in ns: ns/op on a loaded
// machine is mostly waiting; this is the work.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
