package console

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// BenchmarkSnapshot10k builds the view of 10,000 workers and encodes the full snapshot plus
// the first page of the miners table: what a new console tab on the miners page costs.
func BenchmarkSnapshot10k(b *testing.B) {
	be := newFleetBackend(10000, true)
	h := newHub(be, nil, zerolog.Nop(), time.Second, 8)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		v := buildView(be, time.Now())
		s := mustJSON(snapshotMsg{Type: "snapshot", Overview: v.overview, Pools: v.pools, Policy: v.policy, Events: h.events.since(0, snapshotEvents)})
		w := mustJSON(pageMsg{Type: "page", Page: workerQuery{Limit: defaultPageLimit, Sort: "worker", Order: "asc"}.page(v.workers, v.offline)})
		size = len(s) + len(w)
	}
	b.ReportMetric(float64(size), "bytes")
}

// BenchmarkPage10k filters and sorts 10,000 rows by hashrate for one page: the hub's cost
// per distinct followed page and round.
func BenchmarkPage10k(b *testing.B) {
	be := newFleetBackend(10000, true)
	rows := buildView(be, time.Now()).workers
	q, err := workerQuery{Sort: "hashrate_hs", Order: "desc", State: "running"}.normalize()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if p := q.page(rows, nil); len(p.Workers) != defaultPageLimit {
			b.Fatal(len(p.Workers))
		}
	}
}

func BenchmarkClients50Overview(b *testing.B) { benchClients(b, 50, false) }
func BenchmarkClients50Miners(b *testing.B)   { benchClients(b, 50, true) }

// benchClients runs update rounds over 10,000 workers with n websocket clients connected and
// reading (following the first page of the miners table or not), every row changing each round. It reports the
// process CPU per round (server and the in-process clients together, so an upper bound) and
// what that is as a share of one core at the default one-second interval.
func benchClients(b *testing.B, n int, watch bool) {
	be := newFleetBackend(10000, true)
	cfg := authConfig()
	cfg.UpdateInterval = Duration(time.Hour) // rounds only by forceTick
	s := newServer(b, cfg, be)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"

	got := make(chan uint64, n*4)
	var closing atomic.Bool
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(url, tokenHeader(viewerToken))
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		if watch {
			_ = c.WriteJSON(clientMsg{Type: "watch", Workers: true})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := make([]byte, 48)
			for {
				_, r, err := c.NextReader()
				if err != nil {
					got <- 0 // gone: the round loop fails
					return
				}
				// A browser would parse the message; here only the header is read, so the
				// numbers are the server's cost (and the kernel's), not a JSON decoder's.
				k, _ := io.ReadFull(r, head)
				_, _ = io.Copy(io.Discard, r)
				if v, ok := deltaVersion(head[:k]); ok {
					got <- v
				}
			}
		}()
	}
	for s.hub.nclients.Load() < int64(n) {
		s.hub.forceTick() // let registrations through
		drain(got)
	}
	s.hub.forceTick()
	drain(got)

	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		be.setHashrate(float64(i+1) * 1e12)
		s.hub.forceTick()
		v := s.hub.version
		for seen := 0; seen < n; {
			switch x := <-got; {
			case x == 0 && !closing.Load():
				b.Fatal("a client disconnected during the benchmark")
			case x >= v:
				seen++
			}
		}
	}
	b.StopTimer()
	perRound := (cpuTime() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(perRound.Microseconds())/1000, "cpu-ms/round")
	b.ReportMetric(100*perRound.Seconds()/time.Second.Seconds(), "%cpu@1s")
	if ev := s.hub.evicted.Load(); ev > 0 {
		b.Fatalf("%d clients evicted during the benchmark", ev)
	}
	closing.Store(true)
	for _, c := range conns {
		c.Close()
	}
	go drainUntil(got, &wg)
	wg.Wait()
}

// deltaVersion reads the version from the start of a delta: {"type":"delta","version":N,...
func deltaVersion(head []byte) (uint64, bool) {
	const prefix = `{"type":"delta","version":`
	rest, ok := bytes.CutPrefix(head, []byte(prefix))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return v, err == nil && v > 0
}

func drainUntil(ch chan uint64, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-ch:
		case <-done:
			return
		}
	}
}

func drain(ch chan uint64) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
