package proxy

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// rawMiner is a hand-driven V1 client for bad-input tests.
type rawMiner struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawMiner {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawMiner{t: t, c: c, br: bufio.NewReaderSize(c, 1<<20)}
}

func (r *rawMiner) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s + "\n")); err != nil {
		r.t.Fatal(err)
	}
}

// next reads messages until one matches; notifications and other replies are skipped.
func (r *rawMiner) next(match func(*sv1.Message) bool) *sv1.Message {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := r.br.ReadBytes('\n')
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		m, err := sv1.Decode(line)
		if err != nil {
			r.t.Fatalf("proxy sent a line that does not decode: %q: %v", line, err)
		}
		if match(m) {
			return m
		}
	}
}

func (r *rawMiner) reply(id string) *sv1.Message {
	return r.next(func(m *sv1.Message) bool { return m.IsResponse() && string(m.ID) == id })
}

func (r *rawMiner) handshake(worker string) (jobID string) {
	r.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
	r.send(`{"id":2,"method":"mining.authorize","params":["` + worker + `","x"]}`)
	if m := r.reply("1"); m.Error != nil {
		r.t.Fatalf("subscribe: %v", m.Error)
	}
	n := r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify })
	var nt sv1.Notify
	if err := n.UnmarshalParams(&nt); err != nil {
		r.t.Fatal(err)
	}
	return nt.JobID
}

func wantCode(t *testing.T, m *sv1.Message, code int) {
	t.Helper()
	if m.Error == nil || m.Error.Code != code {
		t.Fatalf("want error %d, got %s / %v", code, m.Result, m.Error)
	}
}

func TestBadInputGetsErrorsAndKeepsConnection(t *testing.T) {
	_, paddr := startPool(t, nil)
	_, addr := startProxy(t, testConfig(paddr), Options{})
	r := dialRaw(t, addr)

	r.send(`{"id":7,"method":"mining.submit","params":["w","1","00000000","00000000","00000000"]}`)
	wantCode(t, r.reply("7"), codeNotSubscribed)

	r.send(`{this is not json`)
	m := r.next(func(m *sv1.Message) bool { return m.IsResponse() })
	wantCode(t, m, -32700)

	r.send(`{"id":"s1","method":"mining.frobnicate","params":[]}`)
	m = r.reply(`"s1"`) // string ids are echoed as strings
	wantCode(t, m, codeOther)

	r.send(`{"id":8,"method":"mining.authorize","params":[42]}`)
	wantCode(t, r.reply("8"), codeOther)

	job := r.handshake("rack9.raw")
	r.send(`{"id":9,"method":"mining.submit","params":["rack9.raw","nope","0000","5e000000","00000000"]}`)
	wantCode(t, r.reply("9"), codeStale)
	r.send(`{"id":10,"method":"mining.submit","params":["rack9.raw","` + job + `","000000","5e000000","00000000"]}`)
	wantCode(t, r.reply("10"), codeOther)
	r.send(`{"id":11,"method":"mining.submit","params":["rack9.raw","` + job + `","zz","5e000000","00000000"]}`)
	wantCode(t, r.reply("11"), codeOther)
	r.send(`{"id":12,"method":"mining.submit","params":["rack9.raw","` + job + `"]}`)
	wantCode(t, r.reply("12"), codeOther)
	// Still served after all of that.
	r.send(`{"id":13,"method":"mining.extranonce.subscribe","params":[]}`)
	if m := r.reply("13"); !m.Accepted() {
		t.Fatalf("connection not usable after bad input: %v", m.Error)
	}
}

func TestOversizedLineClosesOnlyThatMiner(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.MaxLine = 4096
	px, addr := startProxy(t, cfg, Options{})
	ms := startMiners(t, addr, 2, "ok", nil)
	bad := dialRaw(t, addr)
	bad.send(`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("A", 10000) + `"]}`)
	m := bad.next(func(m *sv1.Message) bool { return m.IsResponse() })
	if m.Error == nil || !strings.Contains(m.Error.Message, "too long") {
		t.Fatalf("want a line-too-long error, got %v", m.Error)
	}
	bad.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := bad.br.ReadByte(); err == nil {
		t.Fatal("connection should be closed after an oversized line")
	}
	before := ms[0].Stats.Accepted.Load() + ms[1].Stats.Accepted.Load()
	eventually(t, "other miners keep mining", func() bool {
		return ms[0].Stats.Accepted.Load()+ms[1].Stats.Accepted.Load() > before+3
	})
	if px.Status().Drops["oversized_line"] != 1 {
		t.Fatalf("drops %v", px.Status().Drops)
	}
}

func TestSubmitFloodIsLimited(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.SubmitRate = 5
	px, addr := startProxy(t, cfg, Options{})
	r := dialRaw(t, addr)
	job := r.handshake("rack9.flood")
	var b strings.Builder
	for i := 0; i < 200; i++ {
		b.WriteString(`{"id":100,"method":"mining.submit","params":["rack9.flood","` + job + `","0000","5e000000","00000000"]}` + "\n")
	}
	r.c.Write([]byte(b.String()))
	limited := false
	for i := 0; i < 200 && !limited; i++ {
		m := r.reply("100")
		limited = m.Error != nil && strings.Contains(m.Error.Message, "Too many")
	}
	if !limited || px.Status().Drops["submit_rate_limited"] == 0 {
		t.Fatal("a submit flood was not rate limited")
	}
}

// TestFrozenMinerDoesNotDelayOthers: a miner that stops reading must not hold back a new
// block's job from the rest of the fleet.
func TestFrozenMinerDoesNotDelayOthers(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.WriteTimeout = Duration(10 * time.Minute) // the frozen miner stays connected through the test, however slow the box
	px, addr := startProxy(t, cfg, Options{})

	frozen := dialRaw(t, addr)
	frozen.c.(*net.TCPConn).SetReadBuffer(4096)
	frozen.handshake("rack9.frozen")
	// From here on the frozen miner never reads. Send jobs until its socket is full and a
	// writer of its own is blocked on it: a fixed number of jobs can all fit in the socket's
	// buffers, and the test then proves nothing.
	eventually(t, "the frozen miner's writer blocked", func() bool {
		if goroutinesIn("(*v1Conn).flusher") == 1 {
			return true
		}
		for range 50 {
			sp.NewJob()
		}
		return false
	})
	good := dialRaw(t, addr)
	good.handshake("rack9.good")
	for range 50 {
		sp.NewJob()
	}
	// Drain the good miner's backlog, then a new block must reach it.
	sp.NewBlock()
	m := good.next(func(m *sv1.Message) bool {
		if m.Method != sv1.MethodNotify {
			return false
		}
		var n sv1.Notify
		return m.UnmarshalParams(&n) == nil && n.Clean
	})
	if m == nil {
		t.Fatal("no clean job")
	}
	// The frozen miner is still connected, its writer still blocked: its socket held the
	// work back, not the fleet's. (The good miner's writer, if its socket filled for a moment,
	// ends once it has written what the good miner read.)
	eventually(t, "the frozen miner connected, its writer alone blocked", func() bool {
		return goroutinesIn("(*v1Conn).flusher") == 1 && len(px.Workers()) == 2
	})
	if n := px.Status().Drops["slow_miner_disconnected"]; n != 0 {
		t.Fatalf("%d miners disconnected as slow", n)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
