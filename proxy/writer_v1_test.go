package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// goroutinesIn counts the goroutines of this process whose stack has a frame of fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			n++
		}
	}
	return n
}

// notifyOf decodes a mining.notify.
func notifyOf(t *testing.T, m *sv1.Message) sv1.Notify {
	t.Helper()
	var n sv1.Notify
	if err := m.UnmarshalParams(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// jobSeq is the publish order of a proxy-local job id (hex sequence, ".n" for work re-issued).
func jobSeq(t *testing.T, id string) uint64 {
	t.Helper()
	base, _, _ := strings.Cut(id, ".")
	n, err := strconv.ParseUint(base, 16, 64)
	if err != nil {
		t.Fatalf("job id %q: %v", id, err)
	}
	return n
}

// currentJob is the proxy's latest job for its first group.
func currentJob(px *Proxy) string {
	g := px.groupFor(0)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur == nil {
		return ""
	}
	return g.cur.localID
}

// TestV1IdleMinersHaveNoWriter: an idle V1 miner costs no goroutine on Linux (it is parked,
// park_linux.go) and its reader elsewhere. Replies and a new block are written by whoever
// produces them; no writer goroutine is left behind.
func TestV1IdleMinersHaveNoWriter(t *testing.T) {
	sp, paddr := startPool(t, nil)
	_, addr := startProxy(t, testConfig(paddr), Options{})
	const n = 20
	var ms []*rawMiner
	for i := range n {
		r := dialRaw(t, addr)
		r.handshake(fmt.Sprintf("rackI.m%02d", i))
		ms = append(ms, r)
	}
	sp.NewBlock()
	for _, r := range ms {
		r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify && notifyOf(t, m).Clean })
	}
	want := n
	if runtime.GOOS == "linux" {
		want = 0
	}
	deadline := time.Now().Add(30 * time.Second)
	for goroutinesIn("(*v1Conn).readLoop") != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := goroutinesIn("(*v1Conn).readLoop"); got != want {
		t.Fatalf("%d V1 readers for %d idle miners, want %d", got, n, want)
	}
	if got := goroutinesIn("(*v1Conn).flusher"); got != 0 {
		t.Fatalf("%d writer goroutines for idle miners", got)
	}
}

// TestV1BlockedMinerKeepsOrder: a miner that stops reading while it pipelines 3,000 requests
// and several jobs (one a new block) arrive gets, once it reads again, every reply in order,
// then only the latest job (latest wins), clean, and never an older job after a newer one.
func TestV1BlockedMinerKeepsOrder(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.SendQueue = 1 << 20
	cfg.WriteTimeout = Duration(2 * time.Minute)
	px, addr := startProxy(t, cfg, Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(4096)
	r := &rawMiner{t: t, c: c, br: bufio.NewReaderSize(c, 4096)}
	first := r.handshake("rackO.m00")

	const n = 3000
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"method":"mining.extranonce.subscribe","params":[]}`+"\n", 100+i)
	}
	go c.Write([]byte(b.String()))
	eventually(t, "the miner's socket full and its replies queued", func() bool { return goroutinesIn("(*v1Conn).flusher") == 1 })
	sp.NewJob()
	sp.NewBlock()
	sp.NewJob()
	eventually(t, "the last job published", func() bool { return jobSeq(t, currentJob(px)) >= jobSeq(t, first)+3 })
	latest := currentJob(px)

	next := 101
	lastJob := jobSeq(t, first)
	var jobs []sv1.Notify
	for next <= 100+n || len(jobs) == 0 || jobs[len(jobs)-1].JobID != latest {
		m := r.next(func(*sv1.Message) bool { return true })
		switch {
		case m.IsResponse():
			if string(m.ID) != strconv.Itoa(next) || !m.Accepted() {
				t.Fatalf("reply %s (%s %v), want %d", m.ID, m.Result, m.Error, next)
			}
			next++
		case m.Method == sv1.MethodNotify:
			nt := notifyOf(t, m)
			if s := jobSeq(t, nt.JobID); s < lastJob {
				t.Fatalf("job %s after job %x", nt.JobID, lastJob)
			} else {
				lastJob = s
			}
			jobs = append(jobs, nt)
		}
	}
	if len(jobs) > 2 {
		t.Errorf("%d jobs written after the backlog; the latest alone should be", len(jobs))
	}
	if !jobs[len(jobs)-1].Clean {
		t.Errorf("the job after a new block came without clean_jobs")
	}
	eventually(t, "the writer gone once the queue is written", func() bool { return goroutinesIn("(*v1Conn).flusher") == 0 })
}

// TestV1FrozenMinerDoesNotHoldTheBlock: one miner's socket is full and its writer blocked
// (write_timeout is long); a new block still reaches every other miner, and the frozen one
// is not disconnected for it.
func TestV1FrozenMinerDoesNotHoldTheBlock(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.SendQueue = 1 << 20
	cfg.WriteTimeout = Duration(2 * time.Minute)
	px, addr := startProxy(t, cfg, Options{})
	frozen, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { frozen.Close() })
	frozen.(*net.TCPConn).SetReadBuffer(4096)
	fr := &rawMiner{t: t, c: frozen, br: bufio.NewReaderSize(frozen, 4096)}
	fr.handshake("rackF.frozen")
	var honest []*rawMiner
	for i := range 4 {
		r := dialRaw(t, addr)
		r.handshake(fmt.Sprintf("rackF.m%02d", i))
		honest = append(honest, r)
	}
	go frozen.Write(bytes.Repeat([]byte(`{"id":5,"method":"mining.extranonce.subscribe","params":[]}`+"\n"), 3000))
	eventually(t, "the frozen miner's writer blocked", func() bool { return goroutinesIn("(*v1Conn).flusher") == 1 })

	sp.NewBlock()
	eventually(t, "the block published", func() bool { return currentJob(px) != "" })
	for _, r := range honest {
		m := r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify && notifyOf(t, m).Clean })
		if id := notifyOf(t, m).JobID; id != currentJob(px) {
			t.Fatalf("got job %s, the latest is %s", id, currentJob(px))
		}
	}
	if n := px.Status().Drops["slow_miner_disconnected"]; n != 0 {
		t.Fatalf("%d miners disconnected as slow", n)
	}
	if len(px.Workers()) != 5 {
		t.Fatalf("%d workers, want 5", len(px.Workers()))
	}
}

// TestV1RepliesDoNotWaitForAPartialLine: replies to the lines one read brought are held for
// one write, but never behind a line that has not finished arriving.
func TestV1RepliesDoNotWaitForAPartialLine(t *testing.T) {
	_, paddr := startPool(t, nil)
	_, addr := startProxy(t, testConfig(paddr), Options{})
	r := dialRaw(t, addr)
	r.handshake("rackP.m00")
	if _, err := r.c.Write([]byte(`{"id":41,"method":"mining.extranonce.subscribe","params":[]}` + "\n" + `{"id":42,"method":"mining.extra`)); err != nil {
		t.Fatal(err)
	}
	if m := r.reply("41"); !m.Accepted() {
		t.Fatalf("reply 41: %v", m.Error)
	}
	r.send(`nonce.subscribe","params":[]}`)
	if m := r.reply("42"); !m.Accepted() {
		t.Fatalf("reply 42: %v", m.Error)
	}
}

// TestV1BurstAnsweredInOrder: 600 requests in one write, many reads' worth and far more than
// are held for one write, are all answered, in order. Their replies fit the socket's send
// buffer, so the miner is never taken for slow, however late it reads.
func TestV1BurstAnsweredInOrder(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, testConfig(paddr), Options{})
	r := dialRaw(t, addr)
	r.handshake("rackB.m00")
	var b strings.Builder
	const n = 600
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"method":"mining.extranonce.subscribe","params":[]}`+"\n", i)
	}
	go r.c.Write([]byte(b.String()))
	for i := 1; i <= n; i++ {
		m := r.next(func(m *sv1.Message) bool { return m.IsResponse() })
		if string(m.ID) != strconv.Itoa(i) {
			t.Fatalf("reply %s, want %d", m.ID, i)
		}
	}
	if n := px.Status().Drops["slow_miner_disconnected"]; n != 0 {
		t.Fatalf("a reading miner disconnected as slow (%d)", n)
	}
}

// TestV1ConfigureAnsweredWhileSubscribeWaits: before any pool has answered a subscribe waits
// for one; the configure sent with it in the same packet is answered meanwhile, not held.
func TestV1ConfigureAnsweredWhileSubscribeWaits(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	_, addr := startProxy(t, testConfig(silent.Addr().String()), Options{})
	r := dialRaw(t, addr)
	if _, err := r.c.Write([]byte(`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000"}]}` + "\n" +
		`{"id":2,"method":"mining.subscribe","params":["x/1"]}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if m := r.reply("1"); m.Error != nil {
		t.Fatalf("configure: %v", m.Error)
	}
	// The subscribe is still waiting for a pool: nothing more comes yet.
	r.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if line, err := r.br.ReadBytes('\n'); err == nil {
		t.Fatalf("subscribe answered with no pool: %s", line)
	}
}

// TestTLSMinerNotReadingIsDisconnected: over TLS every write goes through a writer started on
// demand; a TLS miner that floods requests and never reads fills its queue and is
// disconnected once, while another TLS miner keeps being answered.
func TestTLSMinerNotReadingIsDisconnected(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.SendQueue = 8
	px, _ := startProxy(t, cfg, Options{})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	ca.issue(t, cf, kf, 9)
	addr, err := px.ListenV1TLS("127.0.0.1:0", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	tcpc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	tcpc.(*net.TCPConn).SetReadBuffer(4096)
	slow := tls.Client(tcpc, &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"})
	t.Cleanup(func() { slow.Close() })
	if err := slow.Handshake(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		batch := bytes.Repeat([]byte(`{"id":3,"method":"mining.extranonce.subscribe","params":[]}`+"\n"), 500)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := slow.Write(batch); err != nil {
				return
			}
		}
	}()
	eventually(t, "the TLS miner disconnected as slow", func() bool { return px.Status().Drops["slow_miner_disconnected"] == 1 })

	good, _ := ca.dial(t, addr.String())
	r := &rawMiner{t: t, c: good, br: bufio.NewReaderSize(good, 1<<20)}
	r.handshake("rackT.m00")
	r.send(`{"id":9,"method":"mining.extranonce.subscribe","params":[]}`)
	if m := r.reply("9"); !m.Accepted() {
		t.Fatalf("reply over TLS: %v", m.Error)
	}
	if n := px.Status().Drops["slow_miner_disconnected"]; n != 1 {
		t.Fatalf("slow miners counted %d times", n)
	}
}
