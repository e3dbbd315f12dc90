package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/store"
)

// serve runs s on a loopback listener through Serve (the production http.Server and its
// timeouts) until the test ends, and returns its base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		// Connections the client dialed but never used would hold graceful shutdown.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

func tokenOnlyConfig() Config {
	cfg := DefaultConfig()
	cfg.Tokens = []TokenConfig{{Name: "ci", TokenHash: HashToken(apiToken), Role: RoleAdmin}}
	return cfg
}

// TestTokenOnlyLoginAnswers401: with tokens but no password users there is no password to
// check; 20 concurrent logins are each answered 401 saying so (none panics, none waits on a
// verification slot a failed one kept), and bearer tokens keep working.
func TestTokenOnlyLoginAnswers401(t *testing.T) {
	cfg := tokenOnlyConfig()
	cfg.LoginsPerMinute = 100 // the 20 logins all come from 127.0.0.1
	s, err := New(cfg, newFleetBackend(2, true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"name":"u%d","password":"pw"}`, i)
				res, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				defer res.Body.Close()
				var e apiError
				_ = json.NewDecoder(res.Body).Decode(&e)
				if res.StatusCode != http.StatusUnauthorized || !strings.Contains(e.Error, "no [[console.user]] is configured") {
					errs <- fmt.Errorf("round %d login %d: %d %q", round, i, res.StatusCode, e.Error)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	c := newClient(t, base)
	c.auth = "Bearer " + apiToken
	code, b, _ := c.do("GET", "/api/v1/me", "")
	want(t, "token after failed logins", code, http.StatusOK, b)
	if !strings.Contains(string(b), `"kind":"token"`) {
		t.Fatalf("me: %s", b)
	}
}

// panicBackend is a fleetBackend whose Decisions (called by request handlers only) panics, as
// a bug in the wiring would.
type panicBackend struct{ *fleetBackend }

func (panicBackend) Decisions(context.Context, store.DecisionQuery) ([]store.Decision, error) {
	panic("decisions exploded")
}

// TestHandlerPanicIsAnswered: a handler that panics answers 500 with a JSON error, and every
// later request is still served.
func TestHandlerPanicIsAnswered(t *testing.T) {
	s, err := New(authConfig(), panicBackend{newFleetBackend(1, true)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	c := newClient(t, base)
	c.auth = "Bearer " + apiToken
	for range 5 {
		code, b, _ := c.do("GET", "/api/v1/decisions", "")
		want(t, "panicking handler", code, http.StatusInternalServerError, b)
		if !strings.Contains(string(b), `"error":"internal error"`) {
			t.Fatalf("body %s", b)
		}
	}
	code, b, _ := c.do("GET", "/api/v1/pools", "")
	want(t, "after panics", code, http.StatusOK, b)
	if code := c.login("alice", adminPassword); code != http.StatusOK {
		t.Fatalf("login after panics: %d", code)
	}
}

// trickle writes head at once, then body one byte every 100 ms, and reports how long the
// server took to close the connection. The writer stops at the first failed write.
func trickle(t *testing.T, addr, head, body string) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		for i := range len(body) {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second)) // only guards against a hang
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a trickling client for 60 s; it sent %q", got)
	}
	return time.Since(start), string(got)
}

// TestSlowClientsAreCutOff: with read_timeout = 1s, a client trickling its headers or its
// body a byte at a time (the body would take 20 s) is disconnected well before it finishes;
// a websocket client, whose connection outlives any request, is not.
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := tokenOnlyConfig()
	cfg.ReadTimeout = Duration(time.Second)
	cfg.UpdateInterval = Duration(100 * time.Millisecond)
	s, err := New(cfg, newFleetBackend(2, true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	addr := strings.TrimPrefix(base, "http://")

	body := `{"kw":10,"minutes":10}` + strings.Repeat(" ", 180)
	head := "PUT /api/v1/policy/cap HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + apiToken +
		"\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n"
	took, got := trickle(t, addr, head, body)
	if took > 15*time.Second {
		t.Fatalf("a trickled body held the connection %v", took)
	}
	if strings.Contains(got, "200 OK") {
		t.Fatalf("the trickled request was served: %q", got)
	}
	took, got = trickle(t, addr, "", head) // the headers themselves, a byte at a time
	if took > 15*time.Second {
		t.Fatalf("trickled headers held the connection %v", took)
	}
	if strings.Contains(got, "200 OK") {
		t.Fatalf("the trickled request was served: %q", got)
	}
	if acts := s.b.(*fleetBackend).actionLog(); len(acts) != 0 {
		t.Fatalf("a cut-off request acted: %v", acts)
	}

	// A websocket lives on past read_timeout: deltas keep coming for three times as long.
	conn, res, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/ws", tokenHeader(apiToken))
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	defer conn.Close()
	start := time.Now()
	for time.Since(start) < 3*cfg.ReadTimeout.D() {
		readMsg(t, conn)
	}
}

// TestOversizedBodyIs413: a JSON body over the limit is refused as too large, not parsed.
func TestOversizedBodyIs413(t *testing.T) {
	s := newServer(t, authConfig(), newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	big := `{"name":"alice","password":"` + strings.Repeat("x", 2*maxBody) + `"}`
	code, b, _ := c.do("POST", "/api/v1/login", big)
	want(t, "oversized login", code, http.StatusRequestEntityTooLarge, b)
	c.auth = "Bearer " + apiToken
	code, b, _ = c.do("POST", "/api/v1/dr", `{"id":"`+strings.Repeat("d", 2*maxBody)+`"}`)
	want(t, "oversized DR", code, http.StatusRequestEntityTooLarge, b)
}

// TestAnonymousConsoleServesOnlyLoopbackHosts: without accounts the console answers only to
// loopback names and allowed_hosts (DNS rebinding), and a websocket's Origin must be such a
// host as well as the request's own.
func TestAnonymousConsoleServesOnlyLoopbackHosts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AllowedHosts = []string{"hashgate.lan"}
	s := newServer(t, cfg, newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	for _, h := range []string{"evil.example", "evil.example:" + port, "localhost.evil.example", "127.0.0.1.nip.io:" + port, "10.0.0.1:" + port} {
		for _, p := range []string{"/api/v1/overview", "/healthz", "/readyz", "/"} {
			code, b := getWithHost(t, ts.URL+p, h, nil)
			want(t, "Host "+h+" "+p, code, http.StatusMisdirectedRequest, b)
			if !strings.Contains(string(b), "not served") {
				t.Fatalf("Host %s: body %s", h, b)
			}
		}
	}
	for _, h := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "127.0.0.2", "LOCALHOST.", "hashgate.lan:" + port, "HashGate.LAN"} {
		code, b := getWithHost(t, ts.URL+"/api/v1/overview", h, nil)
		want(t, "Host "+h, code, http.StatusOK, b)
	}

	wsURL := "ws://127.0.0.1:" + port + "/api/v1/ws"
	for _, tc := range []struct {
		host, origin string
		code         int
	}{
		{"evil.example:" + port, "http://evil.example:" + port, http.StatusMisdirectedRequest}, // the rebinding page itself
		{"127.0.0.1:" + port, "http://evil.example", http.StatusForbidden},
		{"127.0.0.1:" + port, "http://127.0.0.1:1", http.StatusForbidden}, // another local page
	} {
		_, res, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Host": {tc.host}, "Origin": {tc.origin}})
		if err == nil || res == nil || res.StatusCode != tc.code {
			t.Fatalf("Host %s Origin %s: err %v, response %v, want %d", tc.host, tc.origin, err, res, tc.code)
		}
	}
	for _, h := range []string{"127.0.0.1:" + port, "localhost:" + port, "hashgate.lan:" + port} {
		conn, res, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Host": {h}, "Origin": {"http://" + h}})
		if err != nil {
			t.Fatalf("Host %s: %v (%v)", h, err, res)
		}
		readMsg(t, conn)
		conn.Close()
	}

	// originAllowed on its own: a same-origin request from a host the console does not serve
	// is still refused.
	r := httptest.NewRequest("GET", "/api/v1/ws", nil)
	r.Host = "evil.example"
	r.Header.Set("Origin", "http://evil.example")
	if s.originAllowed(r) {
		t.Fatal("a rebound origin was allowed")
	}

	// With accounts, any Host is served (the console authenticates instead).
	sa := newServer(t, authConfig(), newFleetBackend(1, true))
	tsa := httptest.NewServer(sa.Handler())
	defer tsa.Close()
	code, b := getWithHost(t, tsa.URL+"/api/v1/overview", "hashgate.example.com", tokenHeader(viewerToken))
	want(t, "named host with a token", code, http.StatusOK, b)
}

// getWithHost GETs url sending host as the Host header.
func getWithHost(t *testing.T, url, host string, hdr http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestAllowedHostsConfig: allowed_hosts and read_timeout are read from TOML and checked.
func TestAllowedHostsConfig(t *testing.T) {
	dec := DefaultConfig()
	md, err := toml.Decode("read_timeout = \"3s\"\nallowed_hosts = [\"hashgate.lan\"]\n", &dec)
	if err != nil || len(md.Undecoded()) > 0 || dec.ReadTimeout.D() != 3*time.Second || !slices.Equal(dec.AllowedHosts, []string{"hashgate.lan"}) {
		t.Fatalf("decoded %v %v: %+v", err, md.Undecoded(), dec)
	}
	if DefaultConfig().ReadTimeout.D() != 20*time.Second {
		t.Fatalf("default read_timeout %v", DefaultConfig().ReadTimeout)
	}
	for _, bad := range []string{"http://hashgate.lan", "hashgate.lan:8080", "", "ops/console", "-x", "a b"} {
		cfg := DefaultConfig()
		cfg.AllowedHosts = []string{"ok.example", bad}
		var ce *ConfigError
		if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "allowed_hosts[1]" {
			t.Errorf("allowed_hosts %q: %v", bad, err)
		}
	}
	cfg := DefaultConfig()
	cfg.AllowedHosts = []string{"hashgate.lan", "192.0.2.7", "::1", "[fe80::1]"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []time.Duration{0, 500 * time.Millisecond, time.Hour} {
		cfg := DefaultConfig()
		cfg.ReadTimeout = Duration(rt)
		var ce *ConfigError
		if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "read_timeout" {
			t.Errorf("read_timeout %v: %v", rt, err)
		}
	}
}

// TestBadRequestsAnsweredClearly: malformed requests from a peer each get a status and a
// JSON error naming the problem, and the server keeps serving.
func TestBadRequestsAnsweredClearly(t *testing.T) {
	s, err := New(authConfig(), newFleetBackend(1, true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		raw  string
		code string
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", "431"},
		{"NONSENSE\r\n\r\n", "400"},
		{"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"name\":1", "400"},
		{"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", "415"},
		{"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{} {}", "400"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		go func() { _, _ = io.WriteString(conn, tc.raw) }()
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.Contains(line, " "+tc.code+" ") {
			t.Errorf("%.40q: status line %q (%v), want %s", tc.raw, line, err, tc.code)
		}
	}
	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("healthz after bad requests: %d", res.StatusCode)
	}
}

// lockedBuffer is a log sink the server writes from its goroutines while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConnectionErrorsAreLogged: a peer that sends garbage instead of a TLS handshake is
// dropped, and net/http's complaint is a line in the console's log rather than on stderr.
func TestConnectionErrorsAreLogged(t *testing.T) {
	certFile, keyFile, _ := writeCert(t)
	cfg := authConfig()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	var logs lockedBuffer
	s, err := New(cfg, newFleetBackend(1, true), Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(serve(t, s), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("\x16\x03\x01\x00\x05hello, not a handshake")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), `"message":"console connection error"`) || !strings.Contains(logs.String(), "TLS handshake error") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the failed handshake:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
