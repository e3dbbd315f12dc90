package console

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/rs/zerolog"
)

// loginFrom posts a login to base from the loopback source address src (Linux routes all of
// 127.0.0.0/8 to lo), so one test can be several client IPs over real TCP.
func loginFrom(t *testing.T, base, src, name, password string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 30 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	body := fmt.Sprintf(`{"name":%q,"password":%q}`, name, password)
	res, err := c.Post(base+"/api/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("login from %s: %v", src, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
		t.Errorf("429 from %s without Retry-After", src)
	}
	return res.StatusCode
}

// handlerLogin is a wrong login from remote, through the handler: how a peer address the
// loopback cannot give (another IPv6 /64 or /48) reaches the limiter.
func handlerLogin(h http.Handler, remote string) int {
	r := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"name":"u","password":"pw"}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// checkKeys checks what key names each peer address in want.
func checkKeys(t *testing.T, name string, key func(string) string, want map[string]string) {
	t.Helper()
	for in, w := range want {
		if got := key(in); got != w {
			t.Errorf("%s(%q) = %q, want %q", name, in, got, w)
		}
	}
}

// TestLoginLimiterKeysIPv6By64: the addresses of one IPv6 /64 share one burst (one host
// often holds the whole /64), an IPv4-mapped address is its IPv4 address, and another /64 or
// IPv4 address keeps its own burst.
func TestLoginLimiterKeysIPv6By64(t *testing.T) {
	checkKeys(t, "limiterKey", limiterKey, map[string]string{
		"192.0.2.1":               "192.0.2.1",
		"::ffff:192.0.2.1":        "192.0.2.1",
		"2001:db8:0:1::1":         "2001:db8:0:1::/64",
		"2001:db8:0:1:ffff:1:2:3": "2001:db8:0:1::/64",
		"fe80::1%eth0":            "fe80::/64",
		"not an address":          "not an address",
	})

	cfg := tokenOnlyConfig()
	cfg.LoginsPerMinute = 3
	s := newServer(t, cfg, newFleetBackend(1, true))
	h := s.Handler()
	login := func(remote string) int { return handlerLogin(h, remote) }
	tried := 0
	for i := range 20 {
		if login(fmt.Sprintf("[2001:db8:0:1::%x]:4000", i+1)) != http.StatusTooManyRequests {
			tried++
		}
	}
	if tried != cfg.LoginsPerMinute {
		t.Errorf("20 addresses of one /64 got %d login attempts; the /64 has %d", tried, cfg.LoginsPerMinute)
	}
	if code := login("[2001:db8:0:2::1]:4000"); code != http.StatusUnauthorized {
		t.Errorf("another /64 was limited: %d", code)
	}
	for range cfg.LoginsPerMinute {
		login("192.0.2.9:4000")
	}
	if code := login("[::ffff:192.0.2.9]:4000"); code != http.StatusTooManyRequests {
		t.Errorf("the IPv4-mapped form of a used-up IPv4 address got %d", code)
	}
}

// limiterSizes is how many per-address and per-block login buckets s keeps.
func limiterSizes(s *Server) (addrs, blocks int) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return len(s.auth.limiters.m), len(s.auth.blocks.m)
}

// TestLoginLimiterFullTableKeepsExhaustedAddress: a client that has used up its logins and
// then churns through eight tables' worth of other addresses, each in a /24 of its own,
// stays limited (the tables are never cleared of a bucket still refilling); a block that has
// used up its shared bucket stays limited too; the addresses beyond both full tables share
// one bucket; a minute later everything has refilled and new addresses get their own again.
func TestLoginLimiterFullTableKeepsExhaustedAddress(t *testing.T) {
	cfg := tokenOnlyConfig() // a login costs no password hash, so the test is not argon2-bound
	cfg.LoginsPerMinute = 3
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s, err := New(cfg, newFleetBackend(1, true), Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	const victim, fresh = "127.0.0.2", "127.0.1.3"
	for i := range cfg.LoginsPerMinute {
		if code := loginFrom(t, base, victim, "u", "pw"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d from %s: %d", i, victim, code)
		}
	}
	if code := loginFrom(t, base, victim, "u", "pw"); code != http.StatusTooManyRequests {
		t.Fatalf("attempt over the limit from %s: %d", victim, code)
	}
	// Address i is alone in its /24: 10.0.0.1, 10.0.1.1, ... so both tables fill.
	churn := func(i int) string { return fmt.Sprintf("10.%d.%d.1", i>>8&0xff, i&0xff) }
	var inBlocks, beyond int
	for i := range 8 * maxLimiters {
		if !s.auth.allowLogin(churn(i)) {
			continue
		}
		switch {
		case i >= maxLimiters+maxBlockLimiters:
			beyond++
		case i >= maxLimiters:
			inBlocks++
		}
	}
	if inBlocks != maxBlockLimiters {
		t.Errorf("%d addresses in new /24s beyond the full address table got %d attempts, want one each", maxBlockLimiters, inBlocks)
	}
	if beyond > cfg.LoginsPerMinute {
		t.Errorf("%d addresses beyond both full tables got %d login attempts; they share %d", 6*maxLimiters, beyond, cfg.LoginsPerMinute)
	}
	if a, b := limiterSizes(s); a > maxLimiters || b > maxBlockLimiters {
		t.Errorf("limiter tables hold %d addresses and %d blocks, bounded at %d and %d", a, b, maxLimiters, maxBlockLimiters)
	}
	if code := loginFrom(t, base, victim, "u", "pw"); code != http.StatusTooManyRequests {
		t.Errorf("%s got a fresh bucket after %d other addresses: %d", victim, 8*maxLimiters, code)
	}
	if code := loginFrom(t, base, fresh, "u", "pw"); code != http.StatusTooManyRequests {
		t.Errorf("a new address in a new /24 beyond both full tables got %d, want the shared bucket's 429", code)
	}
	// The block of churn(maxLimiters) has spent one attempt; its neighbours spend the rest,
	// and another round of churn through new blocks does not refill it.
	block := strings.TrimSuffix(churn(maxLimiters), ".1")
	for i := range cfg.LoginsPerMinute - 1 {
		if !s.auth.allowLogin(fmt.Sprintf("%s.%d", block, 2+i)) {
			t.Fatalf("attempt %d from %s.0/24: limited early", i+2, block)
		}
	}
	for i := range 2 * maxLimiters {
		s.auth.allowLogin(fmt.Sprintf("11.%d.%d.1", i>>8&0xff, i&0xff))
	}
	if s.auth.allowLogin(block + ".200") {
		t.Errorf("%s.0/24 got a fresh bucket after %d other blocks", block, 2*maxLimiters)
	}

	clk.Advance(time.Minute + time.Second)
	if code := loginFrom(t, base, victim, "u", "pw"); code != http.StatusUnauthorized {
		t.Errorf("%s still limited a minute later: %d", victim, code)
	}
	for i := range cfg.LoginsPerMinute {
		if code := loginFrom(t, base, fresh, "u", "pw"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d from %s after the table refilled: %d", i, fresh, code)
		}
	}
	if code := loginFrom(t, base, fresh, "u", "pw"); code != http.StatusTooManyRequests {
		t.Errorf("%s has its own bucket again, but it did not run out: %d", fresh, code)
	}
	// The block table is scanned only when full and wanted again; it stays bounded.
	if a, b := limiterSizes(s); a != 2 || b > maxBlockLimiters {
		t.Errorf("a minute later the tables hold %d addresses and %d blocks, want the 2 tried since and at most %d", a, b, maxBlockLimiters)
	}
}

// TestLoginLimiterOneBlockCannotLockOutOthers: an attacker whose one IPv6 /48 fills the
// address table with its /64s, keeps it full and empties the bucket its further /64s share
// is limited to that bucket; the operator at an IPv4 address over real TCP, or at another
// /48, still gets its attempts, and the tables stay bounded.
func TestLoginLimiterOneBlockCannotLockOutOthers(t *testing.T) {
	checkKeys(t, "blockKey", blockKey, map[string]string{
		"192.0.2.1":               "192.0.2.0/24",
		"::ffff:192.0.2.200":      "192.0.2.0/24",
		"2001:db8:1:ffff::1":      "2001:db8:1::/48",
		"2001:db8:1:0:ffff:1:2:3": "2001:db8:1::/48",
		"fe80::1%eth0":            "fe80::/48",
		"not an address":          "not an address",
	})

	cfg := tokenOnlyConfig()
	cfg.LoginsPerMinute = 3
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s, err := New(cfg, newFleetBackend(1, true), Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	h := s.Handler()
	loginV6 := func(remote string) int { return handlerLogin(h, remote) }
	// 2001:db8:1::/48 holds 65,536 /64s; the attacker touches a table's worth each 50 s, so
	// none is ever idle for the minute that would let it be forgotten, and spends what the
	// /64s beyond the table share.
	attacker := func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i) }
	for round := range 3 {
		for i := range maxLimiters {
			s.auth.allowLogin(attacker(i))
		}
		got := 0
		for i := range 100 {
			if s.auth.allowLogin(attacker(maxLimiters + 100*round + i)) {
				got++
			}
		}
		if round == 0 && got != cfg.LoginsPerMinute {
			t.Errorf("100 new /64s of the attacker's /48 beyond the full table got %d attempts, want the /48's %d", got, cfg.LoginsPerMinute)
		}
		if round > 0 && got > cfg.LoginsPerMinute {
			t.Errorf("round %d: 100 new /64s of the attacker's /48 got %d attempts, more than a burst", round, got)
		}
		if round < 2 {
			clk.Advance(50 * time.Second)
		}
	}
	if a, b := limiterSizes(s); a != maxLimiters || b != 1 {
		t.Fatalf("the attack left %d addresses and %d blocks, want a full table of %d and the attacker's one block", a, b, maxLimiters)
	}

	const operator, neighbour = "127.0.0.3", "127.0.0.4"
	for i := range cfg.LoginsPerMinute {
		if code := loginFrom(t, base, operator, "u", "pw"); code != http.StatusUnauthorized {
			t.Fatalf("operator attempt %d from %s during the attack: %d, want 401", i, operator, code)
		}
	}
	// The operator's /24 shares one bucket while the table is full.
	if code := loginFrom(t, base, neighbour, "u", "pw"); code != http.StatusTooManyRequests {
		t.Errorf("%s after its /24 spent its bucket: %d, want 429", neighbour, code)
	}
	if code := loginV6("[2001:db8:2:5::1]:4000"); code != http.StatusUnauthorized {
		t.Errorf("a /64 of another /48 during the attack: %d, want 401", code)
	}
	if code := loginV6("[2001:db8:1:ffff::1]:4000"); code != http.StatusTooManyRequests {
		t.Errorf("a new /64 of the attacker's /48: %d, want 429", code)
	}
	if a, b := limiterSizes(s); a != maxLimiters || b != 3 {
		t.Errorf("tables hold %d addresses and %d blocks, want %d and 3", a, b, maxLimiters)
	}
}

// holdVerifySlots takes every password-check slot, as logins in progress would, until the
// returned release is called (or the test ends).
func holdVerifySlots(t *testing.T, s *Server) (release func()) {
	for range verifySlots {
		s.auth.verifier <- struct{}{}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for range verifySlots {
				<-s.auth.verifier
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type loginAnswer struct {
	code       int
	retryAfter string
	err        error
}

func postLogin(ctx context.Context, base, name, password string) loginAnswer {
	body := fmt.Sprintf(`{"name":%q,"password":%q}`, name, password)
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/login", strings.NewReader(body))
	if err != nil {
		return loginAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return loginAnswer{err: err}
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return loginAnswer{code: res.StatusCode, retryAfter: res.Header.Get("Retry-After")}
}

// TestLoginVerifyQueueBounded: while both password checks are busy, verifyWaiting logins
// wait and every further one is answered 503 with Retry-After at once, and logged.
func TestLoginVerifyQueueBounded(t *testing.T) {
	cfg := authConfig()
	cfg.LoginsPerMinute = 1000 // every login comes from 127.0.0.1
	var logs lockedBuffer
	s, err := New(cfg, newFleetBackend(1, true), Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	release := holdVerifySlots(t, s)
	// The waiting clients hang up at the end, so the test costs no argon2id checks.
	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	const extra = 5
	answers := make(chan loginAnswer, verifyWaiting+extra)
	for range verifyWaiting + extra {
		go func() { answers <- postLogin(ctx, base, "alice", "wrong") }()
	}
	for i := range extra {
		var a loginAnswer
		select {
		case a = <-answers:
		case <-time.After(60 * time.Second):
			t.Fatalf("%d logins sent while both checks are busy; only %d answered, want %d refused at once", verifyWaiting+extra, i, extra)
		}
		if a.err != nil || a.code != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Fatalf("login over the wait queue: %+v, want 503 with Retry-After", a)
		}
	}
	if n := s.auth.waiting.Load(); n != verifyWaiting {
		t.Errorf("%d logins waiting, want %d", n, verifyWaiting)
	}
	// Nobody leaves the queue here, so each refusal's line counts all verifyWaiting waiting.
	if line := fmt.Sprintf(`"ip":"127.0.0.1","waiting":%d,"message":"console login refused: password checks busy"`, verifyWaiting); !strings.Contains(logs.String(), line) {
		t.Errorf("no log line %s for the refused logins:\n%s", line, logs.String())
	}
	c := newClient(t, base)
	c.auth = "Bearer " + viewerToken
	code, metrics, _ := c.do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, nil)
	if line := `hashgate_queue_drops_total{reason="console_login_busy"} 5`; !strings.Contains(string(metrics), line) {
		t.Errorf("metrics lack %s", line)
	}
	hangUp()
	waitFor(t, "the waiting logins leave", func() bool { return s.auth.waiting.Load() == 0 })
	release()
}

// TestAbandonedLoginsLeaveVerifyQueue: logins whose clients hang up while waiting for a
// password check leave the queue without being checked, and the operator's login right
// after is not behind them.
func TestAbandonedLoginsLeaveVerifyQueue(t *testing.T) {
	cfg := authConfig()
	cfg.LoginsPerMinute = 1000
	var logs lockedBuffer
	s, err := New(cfg, newFleetBackend(1, true), Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	release := holdVerifySlots(t, s)
	ctx, hangUp := context.WithCancel(context.Background())
	answers := make(chan loginAnswer, verifyWaiting)
	for range verifyWaiting {
		go func() { answers <- postLogin(ctx, base, "alice", "wrong") }()
	}
	waitFor(t, "every login waits for a check", func() bool { return s.auth.waiting.Load() == verifyWaiting })
	hangUp()
	for range verifyWaiting {
		if a := <-answers; a.err == nil {
			t.Errorf("a login whose client hung up was answered %d", a.code)
		}
	}
	// Both slots are still held: whoever left the queue did so without a password check.
	waitFor(t, "the abandoned logins leave the queue", func() bool { return s.auth.waiting.Load() == 0 })
	waitFor(t, "the abandoned logins are logged", func() bool {
		return strings.Contains(logs.String(), "console login abandoned by its client before the password check")
	})
	operator := make(chan loginAnswer, 1)
	go func() { operator <- postLogin(context.Background(), base, "alice", adminPassword) }()
	waitFor(t, "the operator's login waits alone", func() bool { return s.auth.waiting.Load() == 1 })
	release()
	if a := <-operator; a.err != nil || a.code != http.StatusOK {
		t.Fatalf("operator login: %+v", a)
	}
}

// TestFailedLoginLogOmitsTypedName: people type passwords into the name field, so a failed
// login's log line carries the address and the reason but not what was typed as the name.
func TestFailedLoginLogOmitsTypedName(t *testing.T) {
	var logs lockedBuffer
	s, err := New(authConfig(), newFleetBackend(1, true), Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	const typed = "Tr0ub4dor&3-typed-as-name"
	if a := postLogin(context.Background(), base, typed, "x"); a.err != nil || a.code != http.StatusUnauthorized {
		t.Fatalf("failed login: %+v", a)
	}
	out := logs.String()
	if !strings.Contains(out, `"message":"console login failed"`) || !strings.Contains(out, `"ip":"127.0.0.1"`) {
		t.Fatalf("no log line with the address for the failed login:\n%s", out)
	}
	if strings.Contains(out, typed) {
		t.Errorf("the typed name is in the log:\n%s", out)
	}
}

// TestLoginLogLinesSampled: a client failing logins as fast as it can gets peerLogBurst
// lines into the log, then one per peerLogEvery on the console's clock.
func TestLoginLogLinesSampled(t *testing.T) {
	cfg := tokenOnlyConfig()
	cfg.LoginsPerMinute = 1000
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	var logs lockedBuffer
	s, err := New(cfg, newFleetBackend(1, true), Options{Logger: zerolog.New(&logs), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	lines := func() int { return strings.Count(logs.String(), `"message":"console login failed"`) }
	for range 3 * peerLogBurst {
		if a := postLogin(context.Background(), base, "u", "pw"); a.err != nil || a.code != http.StatusUnauthorized {
			t.Fatalf("failed login: %+v", a)
		}
	}
	if n := lines(); n != peerLogBurst {
		t.Errorf("%d failed logins logged %d lines, want %d", 3*peerLogBurst, n, peerLogBurst)
	}
	clk.Advance(peerLogEvery)
	for range 5 {
		postLogin(context.Background(), base, "u", "pw")
	}
	if n := lines(); n != peerLogBurst+1 {
		t.Errorf("%s later, %d lines, want %d", peerLogEvery, n, peerLogBurst+1)
	}
}
