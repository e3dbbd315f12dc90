package noise

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// operation because wall time on a shared machine measures the neighbours.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op and, when unit is set, unit per CPU-second.
func reportCPU(b *testing.B, start time.Duration, unit string) {
	per := float64(cpuTime(b)-start) / float64(b.N)
	b.ReportMetric(per, "cpu-ns/op")
	if unit != "" {
		b.ReportMetric(1e9/per, unit)
	}
}

// BenchmarkHandshake runs complete handshakes, both roles, in memory: fresh
// ephemeral keys, four ECDHs, a static key decode and a certificate
// verification each. Run with -cpu 1 for handshakes per second on one core.
func BenchmarkHandshake(b *testing.B) {
	ident := testIdentity(b)
	pub := ident.authority.PublicKey()
	cfg := testConfig()
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		ini, err := NewInitiator(pub, cfg)
		if err != nil {
			b.Fatal(err)
		}
		res, err := NewResponder(ident.static, ident.cert, cfg)
		if err != nil {
			b.Fatal(err)
		}
		act1, err := ini.Act1()
		if err != nil {
			b.Fatal(err)
		}
		if err := res.ReadAct1(act1[:]); err != nil {
			b.Fatal(err)
		}
		act2, _, err := res.Act2()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ini.ReadAct2(act2[:]); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, "handshakes/cpu-s")
}

// BenchmarkHandshakeResponder is the server's share of a handshake: one
// ephemeral key, two ECDHs, act 2 sealed. The initiator's act 1 is reused,
// which costs the responder nothing extra.
func BenchmarkHandshakeResponder(b *testing.B) {
	ident := testIdentity(b)
	cfg := testConfig()
	ini, err := NewInitiator(ident.authority.PublicKey(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	act1, err := ini.Act1()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		res, err := NewResponder(ident.static, ident.cert, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := res.ReadAct1(act1[:]); err != nil {
			b.Fatal(err)
		}
		if _, _, err := res.Act2(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, "handshakes/cpu-s")
}

// BenchmarkHandshakeTCP is BenchmarkHandshake through Client and Server
// over loopback TCP, connection setup excluded.
func BenchmarkHandshakeTCP(b *testing.B) {
	ident := testIdentity(b)
	pub := ident.authority.PublicKey()
	cfg := testConfig()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		rc, rs := rawPair(b, "tcp")
		b.StartTimer()
		errc := make(chan error, 1)
		go func() {
			_, err := Server(rs, ident.static, ident.cert, cfg)
			errc <- err
		}()
		if _, err := Client(rc, pub, cfg); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		rc.Close()
		rs.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

var benchSizes = []int{64, 65536}

// BenchmarkTransport encrypts one frame with the sender's cipher and reads
// it back through Conn.ReadFrame: the CPU cost of both directions, without
// syscalls. Throughput counts payload bytes.
func BenchmarkTransport(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("payload=%d", n), func(b *testing.B) {
			var k [32]byte
			send := &cipherState{}
			send.initKey(k)
			sess := &Session{}
			sess.recv.initKey(k)
			mc := &memConn{}
			c, err := NewConn(mc, sess, nil)
			if err != nil {
				b.Fatal(err)
			}
			hdr := header(0x8000, 0x1b, n)
			payload := pattern(n)
			var wire []byte
			b.SetBytes(int64(n))
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				if wire, err = send.sealFrame(wire[:0], hdr, payload); err != nil {
					b.Fatal(err)
				}
				mc.r.Reset(wire)
				if _, _, err := c.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start, "")
			b.ReportMetric(float64(n)*float64(b.N)/(float64(cpuTime(b)-start)/1e9)/1e6, "MB/cpu-s")
		})
	}
}

// BenchmarkTransportTCP writes frames with WriteFrame and reads them with
// ReadFrame across loopback TCP.
func BenchmarkTransportTCP(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("payload=%d", n), func(b *testing.B) {
			client, server := connPair(b, "tcp", testConfig(), testConfig())
			hdr := header(0x8000, 0x1b, n)
			payload := pattern(n)
			done := make(chan error, 1)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for i := 0; i < b.N; i++ {
					if _, _, err := server.ReadFrame(); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for i := 0; i < b.N; i++ {
				if err := client.WriteFrame(hdr, payload); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkEllSwiftEncode is an ephemeral key as the responder makes one:
// a secret, its public key and an ElligatorSwift encoding.
func BenchmarkEllSwiftEncode(b *testing.B) {
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		if _, err := NewKeyPair(nil); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, "")
}

// BenchmarkEllSwiftDecode maps a peer's 64-byte encoding to its x.
func BenchmarkEllSwiftDecode(b *testing.B) {
	kp, err := NewKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	enc := kp.EllSwift()
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		if _, err := DecodeEllSwift(enc); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, "")
}
