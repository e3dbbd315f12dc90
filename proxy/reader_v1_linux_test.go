package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// readerPair is a v1Conn on the accepted end of a loopback TCP connection, driven by the
// test instead of its readLoop, and the miner's end.
type readerPair struct {
	s     *v1Conn
	lr    *sv1.LineReader
	miner net.Conn
}

func newReaderPair(t *testing.T) *readerPair {
	t.Helper()
	p, err := New(testConfig("127.0.0.1:1"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	t.Cleanup(p.cancel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	miner, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { miner.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	s := &v1Conn{p: p, conn: nc, raw: rawConnOf(nc)}
	if s.raw == nil {
		t.Fatal("no raw socket under a loopback TCP connection")
	}
	s.ch = p.newChannel("sv1", "test", zerolog.Nop(), func() {})
	return &readerPair{s: s, lr: sv1.NewLineReader((*v1Input)(s), p.cfg.MaxLine), miner: miner}
}

// send writes a line as the miner and waits until the proxy's socket has it to read.
func (rp *readerPair) send(t *testing.T, line string) {
	t.Helper()
	if _, err := rp.miner.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !rp.pending(t) {
		if time.Now().After(deadline) {
			t.Fatal("the line never reached the proxy's socket")
		}
		time.Sleep(time.Millisecond)
	}
}

// pending reports whether the proxy's socket holds a byte to read (a peek that takes none).
func (rp *readerPair) pending(t *testing.T) bool {
	t.Helper()
	var b byte
	var n uintptr
	var errno syscall.Errno
	err := rp.s.raw.Control(func(fd uintptr) {
		n, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b)), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	})
	if err != nil || errno != 0 && errno != syscall.EAGAIN {
		t.Fatalf("peek: %v %v", err, errno)
	}
	return errno == 0 && n == 1
}

// answer reads and handles every line the reader holds, as readLoop does.
func (rp *readerPair) answer(t *testing.T) {
	t.Helper()
	for rp.lr.Buffered() > 0 {
		line, err := rp.lr.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if !rp.s.line(line) {
			t.Fatal("the connection ended")
		}
	}
}

func (rp *readerPair) queued() int {
	rp.s.outMu.Lock()
	defer rp.s.outMu.Unlock()
	return len(rp.s.outq)
}

// TestV1RepliesHeldWhileMoreLinesWait: the reader writes the replies to the lines it has read
// only when the socket has nothing more for it. A miner whose next request is already waiting
// gets both replies in one write (its first read holds both); one that sends nothing more gets
// its replies before the reader waits; at the end of the stream the held replies still go out.
func TestV1RepliesHeldWhileMoreLinesWait(t *testing.T) {
	rp := newReaderPair(t)
	rp.send(t, `{"id":1,"method":"mining.extranonce.subscribe","params":[]}`)
	if err := rp.s.awaitLine(rp.lr); err != nil {
		t.Fatal(err)
	}
	rp.answer(t)
	if q := rp.queued(); q != 1 {
		t.Fatalf("%d replies queued after the first line, want 1 held", q)
	}
	rp.send(t, `{"id":2,"method":"mining.extranonce.subscribe","params":[]}`)
	if err := rp.s.awaitLine(rp.lr); err != nil {
		t.Fatal(err)
	}
	if q := rp.queued(); q != 1 {
		t.Fatalf("%d replies queued with the second line read, want the first still held", q)
	}
	rp.answer(t)

	// Nothing more to read: both replies go out, then the reader waits.
	done := make(chan error, 1)
	go func() { done <- rp.s.awaitLine(rp.lr) }()
	rp.miner.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := rp.miner.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"id\":1,\"result\":true,\"error\":null}\n{\"id\":2,\"result\":true,\"error\":null}\n"
	if string(buf[:n]) != want {
		t.Fatalf("first read got %q, want both replies in order %q", buf[:n], want)
	}
	select {
	case err := <-done:
		t.Fatalf("the reader returned (%v) with nothing sent", err)
	default:
	}

	// The waiting reader wakes for the next line; its reply is held until the stream ends.
	if _, err := rp.miner.Write([]byte(`{"id":3,"method":"mining.extranonce.subscribe","params":[]}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rp.answer(t)
	rp.miner.(*net.TCPConn).CloseWrite()
	if err := rp.s.awaitLine(rp.lr); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
	rest, err := bufio.NewReader(rp.miner).ReadString('\n')
	if err != nil || rest != "{\"id\":3,\"result\":true,\"error\":null}\n" {
		t.Fatalf("after the end of stream got %q (%v), want the reply to id 3", rest, err)
	}
}

// TestV1ShareRepliesEchoIDs: a share's reply echoes its request id exactly, whether the id
// is held in the reply itself (short) or copied apart (longer than shortID bytes), a number
// or a string.
func TestV1ShareRepliesEchoIDs(t *testing.T) {
	_, paddr := startPool(t, nil)
	_, addr := startProxy(t, testConfig(paddr), Options{})
	r := dialRaw(t, addr)
	job := r.handshake("rack1.ids")
	long := `"` + strings.Repeat("x", 2*shortID) + `"`
	for i, id := range []string{`7`, `"s"`, `123456789012345678901234`, long, `"` + strings.Repeat("y", shortID-2) + `"`} {
		r.send(fmt.Sprintf(`{"id":%s,"method":"mining.submit","params":["rack1.ids","%s","%08x","00000000","%08x"]}`, id, job, i, i))
		if m := r.reply(id); m == nil {
			t.Fatalf("no reply to id %s", id)
		}
	}
}

// TestV1SubmitParamFormsJudgedAlike: the share decoder's plain path and the general decoder
// it falls back to give the proxy the same share. A share sent plain is accepted; the same
// share with whitespace, an escaped worker name or ntime as a JSON number is a duplicate (so
// it decoded to the same values); malformed params are answered "Invalid params" and the
// connection goes on.
func TestV1SubmitParamFormsJudgedAlike(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial, cfg.Difficulty.Min = 1e-11, 1e-11 // every share valid for the miner
	_, addr := startProxy(t, cfg, Options{})
	r := dialRaw(t, addr)
	r.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
	r.send(`{"id":2,"method":"mining.authorize","params":["rack1.forms","x"]}`)
	var sub sv1.SubscribeResult
	if err := sub.UnmarshalJSON(r.reply("1").Result); err != nil {
		t.Fatal(err)
	}
	var n sv1.Notify
	if err := r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify }).UnmarshalParams(&n); err != nil {
		t.Fatal(err)
	}
	en2 := strings.Repeat("00", sub.Extranonce2Size)
	accepted := func(id string) {
		t.Helper()
		if m := r.reply(id); !m.Accepted() {
			t.Fatalf("id %s: %s %v, want accepted", id, m.Result, m.Error)
		}
	}
	r.send(fmt.Sprintf(`{"id":10,"method":"mining.submit","params":["rack1.forms","%s","%s","%08x","00000001"]}`, n.JobID, en2, n.NTime))
	accepted("10")
	for i, params := range []string{
		fmt.Sprintf(`[ "rack1.forms" , "%s" , "%s" , "%08x" , "00000001" ]`, n.JobID, en2, n.NTime),
		fmt.Sprintf(`["rack1.\u0066orms","%s","%s","%08x","00000001"]`, n.JobID, en2, n.NTime),
		fmt.Sprintf(`["rack1.forms","%s","%s",%d,"00000001",null]`, n.JobID, en2, n.NTime),
	} {
		id := strconv.Itoa(20 + i)
		r.send(`{"id":` + id + `,"method":"mining.submit","params":` + params + `}`)
		wantCode(t, r.reply(id), codeDuplicate)
	}
	r.send(fmt.Sprintf(`{"id":30,"method":"mining.submit","params":["rack1.forms","%s","zz%s","%08x","00000002"]}`, n.JobID, en2[2:], n.NTime))
	m := r.reply("30")
	wantCode(t, m, codeOther)
	if !strings.Contains(m.Error.Message, "Invalid params") {
		t.Fatalf("bad hex answered %q, want Invalid params", m.Error.Message)
	}
	r.send(fmt.Sprintf(`{"id":31,"method":"mining.submit","params":["rack1.forms","%s","%s","%08x","00000003","00000000","extra"]}`, n.JobID, en2, n.NTime))
	accepted("31")
	r.send(fmt.Sprintf(`{"id":32,"method":"mining.submit","params":["rack1.forms","%s","%s","%08x","00000004"]}`, n.JobID, en2, n.NTime))
	accepted("32")
}
