package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/sv2"
)

// dialFrom opens a TCP connection to addr from a chosen loopback address (all of 127/8 is
// loopback on Linux), so one test can play several hosts.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantRefusedV1 reads what a refused V1 connection gets: one JSON error line, then the close.
func wantRefusedV1(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatalf("refused connection got no error line: %v", err)
	}
	m, err := sv1.Decode(line)
	if err != nil || m.Error == nil || m.Error.Code != codeOther || !strings.Contains(m.Error.Message, "Too many connections") || string(m.ID) != "null" {
		t.Fatalf("refusal %q (%v)", line, err)
	}
	if rest, err := io.ReadAll(br); len(rest) != 0 || isTimeout(err) {
		t.Fatalf("refused connection not closed after the error: %q %v", rest, err)
	}
}

// wantClosedSilently: the proxy closed c without sending anything.
func wantClosedSilently(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || isTimeout(err) {
		t.Fatalf("want a silent close, got %q %v", b, err)
	}
}

// stillOpen: c has not been closed by the proxy (a short read times out).
func stillOpen(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); !isTimeout(err) {
		t.Fatalf("connection closed or answered: %v", err)
	}
	c.SetReadDeadline(time.Time{})
}

func TestStratumCapFromRlimit(t *testing.T) {
	for _, c := range []struct {
		limit   uint64
		reserve int
		want    int
	}{
		{20000, 2048, 17952},
		{1 << 20, 2048, 1<<20 - 2048},
		{4096, 256, 3840},
		{1024, 2048, 512}, // never more than half reserved: miners still get in
		{1024, 0, 1024},
		{0, 2048, 0},          // unknown limit: no cap
		{^uint64(0), 2048, 0}, // RLIM_INFINITY: no cap
	} {
		if got := stratumCap(c.limit, c.reserve); got != c.want {
			t.Errorf("stratumCap(%d, %d) = %d, want %d", c.limit, c.reserve, got, c.want)
		}
	}
	// The proxy derives its cap from this process's real limit.
	px, err := New(testConfig("127.0.0.1:1"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := stratumCap(fileLimit(), DefaultLimitsConfig().FDReserve); px.Status().Conns.Cap != want || want == 0 {
		t.Fatalf("cap %d, want %d (RLIMIT_NOFILE %d)", px.Status().Conns.Cap, want, fileLimit())
	}
}

func TestLimitsConfigNamesTheKey(t *testing.T) {
	if d := DefaultLimitsConfig(); d.Validate() != nil || d.MaxConnectionsPerIP != 0 || d.MaxConnections == 0 {
		t.Fatalf("defaults %+v: %v", d, d.Validate())
	}
	for want, mut := range map[string]func(*Config){
		"limits.max_connections:":        func(c *Config) { c.Limits.MaxConnections = -1 },
		"limits.max_connections_per_ip:": func(c *Config) { c.Limits.MaxConnectionsPerIP = -1 },
		"limits.setup_timeout:":          func(c *Config) { c.Limits.SetupTimeout = 0 },
		"limits.handshake_slots:":        func(c *Config) { c.Limits.HandshakeSlots = 0 },
		"limits.handshake_slots_per_ip:": func(c *Config) { c.Limits.HandshakeSlotsPerIP = c.Limits.HandshakeSlots + 1 },
		"limits.handshake_timeout:":      func(c *Config) { c.Limits.HandshakeTimeout = Duration(time.Millisecond) },
		"limits.fd_reserve:":             func(c *Config) { c.Limits.FDReserve = -1 },
		"listener[0].tls_key_file:": func(c *Config) {
			c.Listeners = []ListenerConfig{{Protocol: "sv1", Address: ":3334", TLSCertFile: "c.pem"}}
		},
		"listener[0].tls_cert_file:": func(c *Config) {
			c.Listeners = []ListenerConfig{{Protocol: "sv1", Address: ":3334", TLSKeyFile: "k.pem"}}
		},
		"listener[1].tls_cert_file:": func(c *Config) {
			c.Listeners = []ListenerConfig{{Protocol: "sv1", Address: ":3333"}, {Protocol: "sv2", Address: ":34255", KeyFile: "x", TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}}
		},
		"listener[0].key_file:": func(c *Config) {
			c.Listeners = []ListenerConfig{{Protocol: "sv1", Address: ":3334", KeyFile: "k.pem"}}
		},
	} {
		cfg := testConfig("127.0.0.1:1")
		mut(&cfg)
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
	cfg := testConfig("127.0.0.1:1")
	cfg.Listeners = []ListenerConfig{{Protocol: "sv1", Address: ":3334", TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a TLS sv1 listener: %v", err)
	}
}

// TestMaxConnectionsPerListener: with max_connections open, the next V1 connection reads a
// JSON error and is closed; a miner gets in as soon as one of the others goes.
func TestMaxConnectionsPerListener(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Limits.MaxConnections = 3
	buf, log := levelBuffer()
	px, addr := startProxy(t, cfg, Options{Logger: log})
	var idle []net.Conn
	for range 3 {
		idle = append(idle, dialFrom(t, "127.0.0.1", addr))
	}
	eventually(t, "three open", func() bool { return px.Status().Conns.Open == 3 })
	wantRefusedV1(t, dialFrom(t, "127.0.0.1", addr))
	wantRefusedV1(t, dialFrom(t, "127.0.0.1", addr))
	if st := px.Status().Conns; st.Refused["max_connections"] != 2 || st.Open != 3 {
		t.Fatalf("conns %+v", st)
	}
	if n := buf.count("miner connection refused: too many connections"); n != 1 {
		t.Fatalf("%d refusals logged at info or above within the minute, want 1", n)
	}
	for _, c := range idle {
		stillOpen(t, c)
	}
	idle[0].Close()
	eventually(t, "the place given back", func() bool { return px.Status().Conns.Open == 2 })
	ms := startMiners(t, addr, 1, "rack4", nil)
	eventually(t, "a miner mining in the freed place", func() bool { return ms[0].Stats.Accepted.Load() > 0 })
}

// TestMaxConnectionsPerIPAcrossListeners: one address's connections are counted across the V1
// and V2 listeners; over the cap V1 reads a JSON error, V2 is closed silently; another address
// still gets in.
func TestMaxConnectionsPerIPAcrossListeners(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Limits.MaxConnectionsPerIP = 2
	k := newV2Keys(t)
	px, v1, v2 := startProxyV2(t, cfg, k)
	dialFrom(t, "127.0.0.1", v1)
	dialFrom(t, "127.0.0.1", v2)
	eventually(t, "two open", func() bool { return px.Status().Conns.Open == 2 })
	wantRefusedV1(t, dialFrom(t, "127.0.0.1", v1))
	wantClosedSilently(t, dialFrom(t, "127.0.0.1", v2))
	if n := px.Status().Conns.Refused["max_connections_per_ip"]; n != 2 {
		t.Fatalf("refused %d, want 2", n)
	}
	r := &rawMiner{t: t, c: dialFrom(t, "127.0.0.2", v1)}
	r.br = bufio.NewReader(r.c)
	r.send(`{"id":1,"method":"mining.extranonce.subscribe","params":[]}`)
	if m := r.reply("1"); !m.Accepted() {
		t.Fatalf("another address: %v", m.Error)
	}
}

// TestSetupTimeoutClosesIdleV1: a V1 connection that has not subscribed and authorized when
// setup_timeout passes (on the proxy's clock) is closed and counted; a miner that did keeps
// mining.
func TestSetupTimeoutClosesIdleV1(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, testConfig(paddr), Options{Clock: clk})
	silent := dialFrom(t, "127.0.0.1", addr)
	half := dialRaw(t, addr)
	half.send(`{"id":1,"method":"mining.subscribe","params":["half/1.0"]}`)
	half.reply("1")
	miner := dialRaw(t, addr)
	miner.handshake("rack1.setup")
	eventually(t, "three open", func() bool { return px.Status().Conns.Open == 3 })

	clk.Advance(29 * time.Second)
	stillOpen(t, silent)
	clk.Advance(2 * time.Second)
	wantClosedSilently(t, silent)
	half.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(half.br); isTimeout(err) {
		t.Fatal("subscribed but unauthorized connection still open")
	}
	eventually(t, "both counted", func() bool { return px.Status().Conns.Closed["setup_timeout"] == 2 })
	miner.send(`{"id":9,"method":"mining.extranonce.subscribe","params":[]}`)
	if m := miner.reply("9"); !m.Accepted() {
		t.Fatalf("authorized miner: %v", m.Error)
	}
	eventually(t, "their places given back", func() bool { return px.Status().Conns.Open == 1 })
}

// TestSetupTimeoutClosesIdleV2: an SV2 connection that finished its handshake and setup but
// opened no channel within setup_timeout is closed and counted; a miner with a channel keeps
// mining.
func TestSetupTimeoutClosesIdleV2(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	k := newV2Keys(t)
	px, _ := startProxy(t, testConfig(paddr), Options{Clock: clk})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.String()
	idle := dialRawV2(t, addr, k.authority.PublicKey())
	idle.setup(0)
	m := dialRawV2(t, addr, k.authority.PublicKey())
	m.setup(0)
	m.send(&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "rack2.setup", NominalHashRate: 1e6, MaxTarget: allOnes()})
	expect[*sv2.OpenStandardMiningChannelSuccess](m)
	expect[*sv2.NewMiningJob](m)

	clk.Advance(31 * time.Second)
	if !idle.closedByPeer() {
		t.Fatal("SV2 connection without a channel not closed")
	}
	eventually(t, "counted", func() bool { return px.Status().Conns.Closed["setup_timeout"] == 1 })
	m.send(&sv2.UpdateChannel{ChannelID: 77, NominalHashRate: 1, MaximumTarget: allOnes()})
	if e := expect[*sv2.UpdateChannelError](m); e.ErrorCode != "invalid-channel-id" {
		t.Fatalf("miner with a channel: %+v", e)
	}
}

// TestSilentSV2FloodDoesNotLockOutMiners: 300 TCP connections from one host to the SV2 port
// that never start their handshake (handshakes allowed two minutes) leave the other hosts'
// miners able to handshake, set up and get work at once.
func TestSilentSV2FloodDoesNotLockOutMiners(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Limits.HandshakeTimeout = Duration(2 * time.Minute)
	k := newV2Keys(t)
	px, _, v2 := startProxyV2(t, cfg, k)
	for range 300 {
		dialFrom(t, "127.0.0.1", v2)
	}
	eventually(t, "all 300 accepted", func() bool { return px.Status().Conns.Open == 300 })

	raw := dialFrom(t, "127.0.0.2", v2)
	raw.SetDeadline(time.Now().Add(30 * time.Second)) // a locked-out handshake would wait two minutes
	nc, err := noise.Client(raw, k.authority.PublicKey(), nil)
	if err != nil {
		t.Fatalf("handshake from another host during the flood: %v", err)
	}
	r := &rawV2{t: t, raw: raw, nc: nc}
	r.setup(0)
	r.send(&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "rack7.sv2", NominalHashRate: 1e6, MaxTarget: allOnes()})
	expect[*sv2.OpenStandardMiningChannelSuccess](r)
	expect[*sv2.NewMiningJob](r)
	if st := px.Status().Conns; st.Refused["handshake_queue_full"] != 0 || st.Open != 301 {
		t.Fatalf("conns %+v", st)
	}
}

// TestSV2HandshakeQueueFullIsRefused: with 4 handshake slots and 1 per address, one host's
// 20 silent connections get 1 slot and 8 places in the queue (half of 4 × 4); the other 11 are
// closed at once, counted and logged once.
func TestSV2HandshakeQueueFullIsRefused(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Limits.HandshakeSlots, cfg.Limits.HandshakeSlotsPerIP = 4, 1
	cfg.Limits.HandshakeTimeout = Duration(2 * time.Minute)
	buf, log := levelBuffer()
	k := newV2Keys(t)
	px, _ := startProxy(t, cfg, Options{Logger: log})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 20 {
		conns = append(conns, dialFrom(t, "127.0.0.1", a.String()))
	}
	eventually(t, "the refusals", func() bool { return px.Status().Conns.Refused["handshake_queue_full"] == 11 })
	for _, c := range conns[9:] {
		wantClosedSilently(t, c)
	}
	eventually(t, "the refused places given back", func() bool { return px.Status().Conns.Open == 9 })
	if n := buf.count("its address holds its share of SV2 handshake slots"); n != 1 {
		t.Fatalf("%d refusal lines at info or above, want 1 a minute", n)
	}
}
