package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// bufText is what a syncBuffer holds.
func bufText(s *syncBuffer) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// readCounter counts the bytes a client receives.
type readCounter struct {
	net.Conn
	n atomic.Int64
}

func (c *readCounter) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// helloFrom sends a real TLS ClientHello from the address from to a plain V1 port and
// returns how many bytes came back before the connection ended.
func helloFrom(t *testing.T, from, addr string) int64 {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &readCounter{Conn: c}
	c.SetDeadline(time.Now().Add(30 * time.Second)) // only guards against a hang
	err = tls.Client(rc, &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true}).Handshake()
	if err == nil {
		t.Fatal("a TLS handshake succeeded on the plain port")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the plain port did not close the TLS client")
	}
	return rc.n.Load()
}

// TestTLSClientHelloOnPlainPort: bfgminer opens with a TLS ClientHello. The plain V1 port
// closes the connection without a byte of JSON and logs one warning that names the stratum+ssl
// listener; a miner retrying from the same address is not logged again within the minute,
// another address is; every one is counted.
func TestTLSClientHelloOnPlainPort(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	buf, log := levelBuffer()
	px, addr := startProxy(t, testConfig(paddr), Options{Clock: clk, Logger: log})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	ca.issue(t, cf, kf, 1)
	tlsAddr, err := px.ListenV1TLS("127.0.0.1:0", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	const msg = "TLS ClientHello on a plain stratum port; use the stratum+ssl listener"
	refused := func() uint64 { return px.Status().Conns.Refused["tls_on_plain_port"] }

	if n := helloFrom(t, "127.0.0.1", addr); n != 0 {
		t.Fatalf("the plain port answered a ClientHello with %d bytes", n)
	}
	eventually(t, "the warning", func() bool { return buf.count(msg) == 1 })
	if !strings.Contains(bufText(buf), "stratum+ssl://"+tlsAddr.String()) {
		t.Fatalf("the warning does not name the stratum+ssl listener: %s", bufText(buf))
	}
	if n := helloFrom(t, "127.0.0.1", addr); n != 0 {
		t.Fatalf("second ClientHello answered with %d bytes", n)
	}
	eventually(t, "both counted", func() bool { return refused() == 2 })
	if c := buf.count(msg); c != 1 {
		t.Fatalf("a retrying miner logged %d warnings within the minute, want 1", c)
	}
	helloFrom(t, "127.0.0.2", addr)
	eventually(t, "another address logged", func() bool { return buf.count(msg) == 2 })
	clk.Advance(61 * time.Second)
	helloFrom(t, "127.0.0.1", addr)
	eventually(t, "the first address logged again after a minute", func() bool { return buf.count(msg) == 3 })
	if r := refused(); r != 4 {
		t.Fatalf("refused %d, want 4", r)
	}
	if strings.Contains(bufText(buf), "malformed message") {
		t.Fatal("a ClientHello was parsed as JSON")
	}
	// The plain port still serves V1 miners.
	r := dialRaw(t, addr)
	r.send(`{"id":1,"method":"mining.extranonce.subscribe","params":[]}`)
	if m := r.reply("1"); !m.Accepted() {
		t.Fatalf("plain port after the hellos: %v", m.Error)
	}
}

// TestHTTPAndBinaryOnPlainPort: a browser gets a plain-text 400, binary data (an SV2 handshake
// on the wrong port) a close; neither gets JSON, both are counted by reason.
func TestHTTPAndBinaryOnPlainPort(t *testing.T) {
	_, paddr := startPool(t, nil)
	buf, log := levelBuffer()
	px, addr := startProxy(t, testConfig(paddr), Options{Logger: log})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte("GET / HTTP/1.1\r\nHost: hashgate\r\n\r\n"))
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request\r\n") || !strings.Contains(string(b), "Stratum V1 mining port") {
		t.Fatalf("HTTP request answered %q, %v", b, err)
	}

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(30 * time.Second))
	act1 := make([]byte, 64)
	act1[0] = 0x02 // an EllSwift key's first byte may be anything; this one is no JSON
	c2.Write(act1)
	// Closed with the rest unread: an EOF or a reset, and not a byte.
	if b, err := io.ReadAll(c2); len(b) != 0 || isTimeout(err) {
		t.Fatalf("binary data answered %q, %v", b, err)
	}
	eventually(t, "both counted", func() bool {
		r := px.Status().Conns.Refused
		return r["http_on_plain_port"] == 1 && r["binary_on_plain_port"] == 1
	})
	if buf.count("HTTP request on a stratum port") != 1 || buf.count("binary data on a Stratum V1 port") != 1 {
		t.Fatalf("log: %s", bufText(buf))
	}
}

// TestPlainStratumOnTLSPort: a miner set to stratum+tcp on the TLS port is told in JSON that
// the port speaks TLS, then closed.
func TestPlainStratumOnTLSPort(t *testing.T) {
	_, paddr := startPool(t, nil)
	buf, log := levelBuffer()
	px, _ := startProxy(t, testConfig(paddr), Options{Logger: log})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	ca.issue(t, cf, kf, 1)
	tlsAddr, err := px.ListenV1TLS("127.0.0.1:0", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tlsAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte(`{"id":1,"method":"mining.subscribe","params":["cgminer/4.12"]}` + "\n"))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	m, err := sv1.Decode(line)
	if err != nil || m.Error == nil || m.Error.Code != codeOther || !strings.Contains(m.Error.Message, "stratum+ssl") {
		t.Fatalf("answer %q (%v)", line, err)
	}
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("more after the error: %q", b)
	}
	eventually(t, "counted", func() bool { return px.Status().Conns.Refused["plain_on_tls_port"] == 1 })
	if buf.count("plain Stratum on a stratum+ssl port") != 1 {
		t.Fatalf("log: %s", bufText(buf))
	}
}
