package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// parkMiner is a raw miner that has subscribed and authorized, with what it needs to
// submit shares that the proxy accepts (difficulty 1e-11: every share is valid).
type parkMiner struct {
	*rawMiner
	worker, job, en2 string
	ntime            uint32
}

func shareConfig(paddr string) Config {
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial, cfg.Difficulty.Min = 1e-11, 1e-11
	cfg.SubmitRate = 1e6
	return cfg
}

func dialParkMiner(t *testing.T, addr, worker string) *parkMiner {
	t.Helper()
	r := dialRaw(t, addr)
	r.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
	r.send(`{"id":2,"method":"mining.authorize","params":["` + worker + `","x"]}`)
	var sub sv1.SubscribeResult
	if err := sub.UnmarshalJSON(r.reply("1").Result); err != nil {
		t.Fatal(err)
	}
	var nt sv1.Notify
	if err := r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify }).UnmarshalParams(&nt); err != nil {
		t.Fatal(err)
	}
	return &parkMiner{rawMiner: r, worker: worker, job: nt.JobID, en2: strings.Repeat("00", sub.Extranonce2Size), ntime: nt.NTime}
}

// dialParkMiners connects n miners named prefix.mNNNN, 32 at a time, and waits until every one
// is parked.
func dialParkMiners(t *testing.T, px *Proxy, addr, prefix string, n int) []*parkMiner {
	t.Helper()
	ms := make([]*parkMiner, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ms[i] = dialParkMiner(t, addr, fmt.Sprintf("%s.m%04d", prefix, i))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitParked(t, px, n)
	return ms
}

func (m *parkMiner) submit(id, nonce int) {
	m.send(fmt.Sprintf(`{"id":%d,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`, id, m.worker, m.job, m.en2, m.ntime, nonce))
}

// waitParked waits until n connections are parked.
func waitParked(t *testing.T, px *Proxy, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d miners parked", n), func() bool { return px.Status().Conns.Parked == n })
}

// parkedConns is every parked connection.
func parkedConns(px *Proxy) []*v1Conn {
	px.park.mu.Lock()
	defer px.park.mu.Unlock()
	var out []*v1Conn
	for _, pc := range px.park.parked {
		out = append(out, pc.s)
	}
	return out
}

// logProxy starts a proxy whose log is kept for counting.
func logProxy(t *testing.T, cfg Config, opts Options) (*Proxy, string, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	log := zerolog.New(&logs)
	opts.Logger = &log
	px, addr := startProxy(t, cfg, opts)
	return px, addr, &logs
}

// wantGone waits for the connection's end: the miner reads EOF (or a reset) and the proxy has
// no channel left for it.
func wantGone(t *testing.T, px *Proxy, r *rawMiner, workers int) {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, err := r.br.ReadBytes('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the proxy never closed the parked miner")
			}
			break
		}
	}
	eventually(t, "the channel removed", func() bool { return len(px.Workers()) == workers })
}

// TestParkIdleMinersHoldNoGoroutine: 200 ready, idle miners add no goroutine per miner: they
// are parked in the epoll set, the parker's one loop is all they cost.
func TestParkIdleMinersHoldNoGoroutine(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, testConfig(paddr), Options{})
	warm := dialRaw(t, addr) // pool connected, layout fixed, parker started
	warm.handshake("rackP.warm")
	waitParked(t, px, 1)
	runtime.GC()
	base := runtime.NumGoroutine()
	const n = 200
	for i := range n {
		dialRaw(t, addr).handshake(fmt.Sprintf("rackP.m%03d", i))
	}
	waitParked(t, px, n+1)
	var got int
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = runtime.NumGoroutine() - base
		if got <= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got > 5 {
		t.Fatalf("%d idle miners hold %d goroutines", n, got)
	}
	if r := goroutinesIn("(*v1Conn).readLoop"); r != 0 {
		t.Fatalf("%d readers for parked miners", r)
	}
}

// TestParkedMinerShareAnswered: a parked miner's next shares are read, judged and answered,
// and it parks again after each.
func TestParkedMinerShareAnswered(t *testing.T) {
	sp, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	m := dialParkMiner(t, addr, "rackP.s1")
	for k := range 3 {
		waitParked(t, px, 1)
		m.submit(10+k, k)
		if r := m.reply(fmt.Sprint(10 + k)); !r.Accepted() {
			t.Fatalf("share %d after parking: %s %v", k, r.Result, r.Error)
		}
	}
	waitParked(t, px, 1)
	// A burst after parking: every line read from one wake-up, all answered.
	var b strings.Builder
	for k := range 20 {
		fmt.Fprintf(&b, `{"id":%d,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`+"\n", 100+k, m.worker, m.job, m.en2, m.ntime, 100+k)
	}
	if _, err := m.c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	for k := range 20 {
		if r := m.reply(fmt.Sprint(100 + k)); !r.Accepted() {
			t.Fatalf("burst share %d: %s %v", k, r.Result, r.Error)
		}
	}
	// A new block reaches a parked miner (written by the fan-out, no reader involved).
	waitParked(t, px, 1)
	sp.NewBlock()
	m.next(func(msg *sv1.Message) bool { return msg.Method == sv1.MethodNotify && notifyOf(t, msg).Clean })
}

// TestParkedMinerKilledCleansUpOnce: every way a parked miner is closed from the proxy's side
// (a kill from a pool verdict or removal, a drain's client.reconnect ignored past its grace,
// a miner that stopped reading while blocks come) wakes it, and its cleanup runs exactly
// once: the channel leaves Workers, one "miner disconnected", nothing left parked, the other
// miners untouched.
func TestParkedMinerKilledCleansUpOnce(t *testing.T) {
	t.Run("kill", func(t *testing.T) {
		_, paddr := startPool(t, nil)
		px, addr, logs := logProxy(t, shareConfig(paddr), Options{})
		other := dialParkMiner(t, addr, "rackK.other")
		victim := dialRaw(t, addr)
		victim.handshake("rackK.victim")
		waitParked(t, px, 2)
		var s *v1Conn
		for _, c := range parkedConns(px) {
			if w := c.worker.Load(); w != nil && *w == "rackK.victim" {
				s = c
			}
		}
		if s == nil {
			t.Fatal("victim not parked")
		}
		var wg sync.WaitGroup
		for range 8 { // kills racing each other: one cleanup
			wg.Add(1)
			go func() { defer wg.Done(); s.kill() }()
		}
		wg.Wait()
		wantGone(t, px, victim, 1)
		eventually(t, "one disconnect logged", func() bool { return logs.count(`"miner disconnected"`) == 1 })
		if px.park.count() != 1 {
			t.Fatalf("%d parked, want the other miner only", px.park.count())
		}
		other.submit(5, 5)
		if r := other.reply("5"); r.Error != nil {
			t.Fatalf("other miner's share: %v", r.Error)
		}
	})
	t.Run("drain", func(t *testing.T) {
		_, paddr := startPool(t, nil)
		clk := clock.NewManual(time.Now())
		px, addr, logs := logProxy(t, testConfig(paddr), Options{Clock: clk})
		m := dialRawV1(t, addr, "rackK.deaf", false)
		waitParked(t, px, 1)
		pending := clk.Pending()
		done := make(chan int)
		go func() { done <- px.Drain(context.Background(), time.Second) }()
		eventually(t, "client.reconnect received while parked", func() bool { told, _, _, _ := m.state(); return told })
		if px.park.count() != 1 {
			t.Fatal("telling a parked miner to reconnect woke its reader")
		}
		eventually(t, "the grace timers scheduled", func() bool { return clk.Pending() >= pending+2 })
		clk.Advance(ReconnectGrace)
		eventually(t, "the deaf miner closed", func() bool { _, closed, _, _ := m.state(); return closed })
		<-done
		eventually(t, "the channel removed", func() bool { return len(px.Workers()) == 0 })
		eventually(t, "one disconnect logged", func() bool { return logs.count(`"miner disconnected"`) == 1 })
		if px.park.count() != 0 {
			t.Fatal("a drained miner is still parked")
		}
	})
	t.Run("slow", func(t *testing.T) {
		sp, paddr := startPool(t, nil)
		cfg := testConfig(paddr)
		cfg.WriteTimeout = Duration(200 * time.Millisecond)
		px, addr, logs := logProxy(t, cfg, Options{})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		r := &rawMiner{t: t, c: c, br: bufio.NewReader(c)}
		r.handshake("rackK.slow")
		waitParked(t, px, 1)
		// The miner stops reading; blocks keep coming until its socket refuses them and the
		// flusher's write times out.
		eventually(t, "the slow miner closed", func() bool {
			sp.NewBlock()
			return len(px.Workers()) == 0
		})
		eventually(t, "one disconnect logged", func() bool { return logs.count(`"miner disconnected"`) == 1 })
		if logs.count("write to miner failed") != 1 {
			t.Fatalf("write failure logged %d times", logs.count("write to miner failed"))
		}
		if px.park.count() != 0 {
			t.Fatal("a closed miner is still parked")
		}
	})
}

// TestParkedMinerIdleTimeout: a parked miner has no read deadline to wake it; the parker's
// sweep, on the proxy's clock, closes it once it has sent nothing for idleReadTimeout, and a
// miner that spoke in the meantime stays.
func TestParkedMinerIdleTimeout(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	px, addr, logs := logProxy(t, shareConfig(paddr), Options{Clock: clk})
	quiet := dialRaw(t, addr)
	quiet.handshake("rackI.quiet")
	talker := dialParkMiner(t, addr, "rackI.talker")
	waitParked(t, px, 2)
	clk.Advance(idleReadTimeout - 2*parkSweepEvery)
	talker.submit(7, 7)
	talker.reply("7")
	waitParked(t, px, 2)
	if len(px.Workers()) != 2 {
		t.Fatal("a miner closed before its idle timeout")
	}
	clk.Advance(2*parkSweepEvery + time.Second)
	wantGone(t, px, quiet, 1)
	eventually(t, "the idle close logged", func() bool { return logs.count("miner sent nothing for too long") == 1 })
	eventually(t, "one disconnect logged", func() bool { return logs.count(`"miner disconnected"`) == 1 })
	waitParked(t, px, 1)
	talker.submit(8, 8)
	if r := talker.reply("8"); r.Error != nil {
		t.Fatalf("the talking miner: %v", r.Error)
	}
}

// TestParkedMinerHangsUp: a parked miner that half-closes or resets its connection is woken
// (EPOLLRDHUP, EPOLLERR) and cleaned up.
func TestParkedMinerHangsUp(t *testing.T) {
	for _, how := range []string{"half-close", "reset", "close"} {
		t.Run(how, func(t *testing.T) {
			_, paddr := startPool(t, nil)
			px, addr, logs := logProxy(t, testConfig(paddr), Options{})
			r := dialRaw(t, addr)
			r.handshake("rackH.m")
			waitParked(t, px, 1)
			tc := r.c.(*net.TCPConn)
			switch how {
			case "half-close":
				tc.CloseWrite()
				wantGone(t, px, r, 0)
			case "reset":
				tc.SetLinger(0)
				tc.Close()
				eventually(t, "the channel removed", func() bool { return len(px.Workers()) == 0 })
			case "close":
				tc.Close()
				eventually(t, "the channel removed", func() bool { return len(px.Workers()) == 0 })
			}
			eventually(t, "one disconnect logged", func() bool { return logs.count(`"miner disconnected"`) == 1 })
			if px.park.count() != 0 {
				t.Fatal("a gone miner is still parked")
			}
		})
	}
}

// TestParkedMinerHostileInput: what a miner sends after being parked meets the same rules as
// before: an oversized line is answered and closed, a run of malformed lines closes it, a
// line trickled a byte at a time is answered whole, garbage gets a parse error.
func TestParkedMinerHostileInput(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := shareConfig(paddr)
	cfg.MaxLine = 4096
	px, addr := startProxy(t, cfg, Options{})

	t.Run("oversized line", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.handshake("rackX.big")
		waitParked(t, px, 1)
		if _, err := r.c.Write([]byte(strings.Repeat("x", 64<<10))); err != nil {
			t.Fatal(err)
		}
		m := r.next(func(m *sv1.Message) bool { return m.IsResponse() && m.Error != nil })
		if !strings.Contains(m.Error.Message, "Line too long") {
			t.Fatalf("oversized line answered %v", m.Error)
		}
		wantGone(t, px, r, 0)
		waitParked(t, px, 0)
	})
	t.Run("malformed flood", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.handshake("rackX.junk")
		waitParked(t, px, 1)
		if _, err := r.c.Write([]byte(strings.Repeat("{not json\n", 30))); err != nil {
			t.Fatal(err)
		}
		r.next(func(m *sv1.Message) bool {
			return m.Error != nil && strings.Contains(m.Error.Message, "Too many malformed")
		})
		wantGone(t, px, r, 0)
		waitParked(t, px, 0)
	})
	t.Run("trickled line", func(t *testing.T) {
		m := dialParkMiner(t, addr, "rackX.slowpoke")
		waitParked(t, px, 1)
		line := fmt.Sprintf(`{"id":77,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`+"\n", m.worker, m.job, m.en2, m.ntime, 77)
		for i := range len(line) {
			if _, err := m.c.Write([]byte{line[i]}); err != nil {
				t.Fatal(err)
			}
			if i%16 == 0 {
				time.Sleep(time.Millisecond) // separate segments, so the reader wakes mid-line
			}
		}
		if r := m.reply("77"); !r.Accepted() {
			t.Fatalf("trickled share: %s %v", r.Result, r.Error)
		}
		waitParked(t, px, 1)
		m.c.Close()
		waitParked(t, px, 0)
	})
	t.Run("garbage", func(t *testing.T) {
		m := dialParkMiner(t, addr, "rackX.garbage")
		waitParked(t, px, 1)
		if _, err := m.c.Write([]byte("\x00\xff\x16\x03\x01garbage\n")); err != nil {
			t.Fatal(err)
		}
		wantCode(t, m.next(func(msg *sv1.Message) bool { return msg.IsResponse() }), -32700)
		waitParked(t, px, 1)
		m.submit(78, 78)
		if r := m.reply("78"); !r.Accepted() {
			t.Fatalf("share after garbage: %s %v", r.Result, r.Error)
		}
	})
}

// TestParkThousandMinersWithShares: 1,000 miners park and wake at once, each submitting shares
// in rounds from its own goroutine, while blocks come: every share answered, everyone parked
// at the end (run under the race detector).
func TestParkThousandMinersWithShares(t *testing.T) {
	sp, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	const n = 1000
	ms := dialParkMiners(t, px, addr, "rackT", n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 {
				m.submit(1000+k, i*16+k)
				m.c.SetReadDeadline(time.Now().Add(60 * time.Second))
				for {
					line, err := m.br.ReadBytes('\n')
					if err != nil {
						errs <- fmt.Errorf("miner %d share %d: %v", i, k, err)
						return
					}
					msg, err := sv1.Decode(line)
					if err != nil {
						errs <- err
						return
					}
					if msg.IsResponse() && string(msg.ID) == fmt.Sprint(1000+k) {
						if msg.Error != nil && msg.Error.Code != 21 { // stale after the block: answered
							errs <- fmt.Errorf("miner %d share %d: %v", i, k, msg.Error)
							return
						}
						break
					}
				}
			}
		}()
	}
	sp.NewBlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitParked(t, px, n)
	if len(px.Workers()) != n {
		t.Fatalf("%d workers, want %d", len(px.Workers()), n)
	}
}

// TestParkCloseLeavesNoGoroutine: Close with parked miners wakes each, runs its cleanup and
// stops the parker without an error logged; no goroutine of the proxy is left behind.
func TestParkCloseLeavesNoGoroutine(t *testing.T) {
	_, paddr := startPool(t, nil)
	runtime.GC()
	base := runtime.NumGoroutine()
	var logs syncBuffer
	log := zerolog.New(&logs)
	px, err := New(testConfig(paddr), Options{Logger: &log})
	if err != nil {
		t.Fatal(err)
	}
	px.Start(context.Background())
	la, err := px.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rs []*rawMiner
	for i := range 50 {
		r := dialRaw(t, la.String())
		r.handshake(fmt.Sprintf("rackC.m%02d", i))
		rs = append(rs, r)
	}
	waitParked(t, px, 50)
	px.Close()
	for _, r := range rs {
		wantGone(t, px, r, 0)
	}
	if px.park.count() != 0 {
		t.Fatal("miners still parked after Close")
	}
	if n := logs.count("epoll set failed") + logs.count("could not park"); n != 0 {
		t.Fatalf("%d parker errors logged by a clean Close", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, fn := range []string{"(*parker).loop", "(*v1Conn).resume", "(*v1Conn).readLoop", "(*burstPool).work"} {
		if g := goroutinesIn(fn); g != 0 {
			t.Errorf("%d goroutines in %s after Close", g, fn)
		}
	}
	if g := runtime.NumGoroutine(); g > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before the proxy:\n%s", g, base, buf[:runtime.Stack(buf, true)])
	}
}

// TestParkedFdReusedByNewMiner: a parked miner killed and closed frees its descriptor, and the
// next miner accepted usually gets the same number. Events carry the connection's token, not
// the fd, so the new miner's shares wake the new connection only, and the old one's cleanup
// ran once.
func TestParkedFdReusedByNewMiner(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr, logs := logProxy(t, shareConfig(paddr), Options{})
	old := dialRaw(t, addr)
	old.handshake("rackF.old")
	waitParked(t, px, 1)
	s := parkedConns(px)[0]
	fdOf := func(s *v1Conn) (fd uintptr) {
		s.raw.Control(func(f uintptr) { fd = f })
		return fd
	}
	oldFd := fdOf(s)
	s.kill()
	wantGone(t, px, old, 0)
	eventually(t, "one disconnect logged", func() bool { return logs.count(`"miner disconnected"`) == 1 })

	old.c.Close() // its client end too: the next dial's socket takes that number, the accept the old one

	var m *parkMiner
	var ns *v1Conn
	for i := range 4 { // the number is the lowest free one: almost always the first miner's
		c := dialParkMiner(t, addr, fmt.Sprintf("rackF.new%d", i))
		waitParked(t, px, i+1)
		for _, pc := range parkedConns(px) {
			if w := pc.worker.Load(); w != nil && *w == c.worker && fdOf(pc) == oldFd {
				m, ns = c, pc
			}
		}
		if m != nil {
			break
		}
	}
	if m == nil {
		t.Skipf("no new miner got the old descriptor %d (another socket of the process took it)", oldFd)
	}
	if ns.parkTok == s.parkTok {
		t.Fatal("the new connection reuses the old one's token")
	}
	parked := px.park.count()
	for k := range 3 {
		m.submit(40+k, 40+k)
		if r := m.reply(fmt.Sprint(40 + k)); !r.Accepted() {
			t.Fatalf("new miner's share %d: %s %v", k, r.Result, r.Error)
		}
		waitParked(t, px, parked)
	}
	if n := logs.count(`"miner disconnected"`); n != 1 {
		t.Fatalf("%d disconnects logged, want the old miner's one", n)
	}
}
