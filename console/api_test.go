package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/proxy"
)

// apiClient is a browser-like client: a cookie jar, the CSRF token from login.
type apiClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
	auth string // Authorization header, for token clients
}

func newClient(t *testing.T, base string) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (a *apiClient) do(method, path, body string, hdr ...string) (int, []byte, http.Header) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.csrf != "" {
		req.Header.Set(csrfHeader, a.csrf)
	}
	if a.auth != "" {
		req.Header.Set("Authorization", a.auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func (a *apiClient) login(name, password string) int {
	a.t.Helper()
	code, b, _ := a.do("POST", "/api/v1/login", `{"name":"`+name+`","password":"`+password+`"}`)
	if code == http.StatusOK {
		var me meResponse
		if err := json.Unmarshal(b, &me); err != nil {
			a.t.Fatal(err)
		}
		a.csrf = me.CSRFToken
	}
	return code
}

func want(t *testing.T, what string, got, wantCode int, body []byte) {
	t.Helper()
	if got != wantCode {
		t.Fatalf("%s: status %d, want %d (%s)", what, got, wantCode, body)
	}
}

func TestUnauthenticatedRefused(t *testing.T) {
	s := newServer(t, authConfig(), newFleetBackend(3, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	for _, p := range []string{"/api/v1/overview", "/api/v1/workers", "/api/v1/policy", "/api/v1/events", "/api/v1/ws", "/metrics"} {
		code, b, h := c.do("GET", p, "")
		want(t, p, code, http.StatusUnauthorized, b)
		if !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate", p)
		}
	}
	code, b, _ := c.do("POST", "/api/v1/groups/rack1/pause", "")
	want(t, "anonymous pause", code, http.StatusUnauthorized, b)
	// The UI shell and health check hold no data.
	for _, p := range []string{"/", "/assets/app.js", "/healthz"} {
		code, b, _ := c.do("GET", p, "")
		want(t, p, code, http.StatusOK, b)
	}
	code, b, _ = c.do("GET", "/api/v1/overview", "", "Authorization", "Bearer wrong")
	want(t, "wrong token", code, http.StatusUnauthorized, b)
	code, b, _ = c.do("GET", "/api/v1/overview", "", "Authorization", "Basic YWxpY2U6eA==")
	want(t, "basic auth", code, http.StatusUnauthorized, b)
}

func TestLoginSessionCookieAndRoles(t *testing.T) {
	b := newFleetBackend(3, true)
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	admin := newClient(t, ts.URL)
	if code := admin.login("alice", "nope"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code := admin.login("mallory", adminPassword); code != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", code)
	}
	code, body, h := admin.do("POST", "/api/v1/login", `{"name":"alice","password":"`+adminPassword+`"}`)
	want(t, "login", code, http.StatusOK, body)
	ck := h.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, attr) {
			t.Errorf("session cookie %q lacks %s", ck, attr)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("cookie marked Secure without TLS: %q", ck)
	}
	var me meResponse
	_ = json.Unmarshal(body, &me)
	admin.csrf = me.CSRFToken
	if me.Role != RoleAdmin || me.CSRFToken == "" {
		t.Fatalf("me = %+v", me)
	}

	code, body, _ = admin.do("GET", "/api/v1/overview", "")
	want(t, "overview", code, http.StatusOK, body)
	code, body, _ = admin.do("POST", "/api/v1/groups/rack1/pause", "")
	want(t, "admin pause", code, http.StatusOK, body)
	code, body, _ = admin.do("POST", "/api/v1/groups/nosuch/pause", "")
	want(t, "unknown group", code, http.StatusNotFound, body)

	viewer := newClient(t, ts.URL)
	if code := viewer.login("victor", viewerPassword); code != http.StatusOK {
		t.Fatalf("viewer login: %d", code)
	}
	code, body, _ = viewer.do("GET", "/api/v1/workers", "")
	want(t, "viewer read", code, http.StatusOK, body)
	code, body, _ = viewer.do("POST", "/api/v1/groups/rack1/resume", "")
	want(t, "viewer control", code, http.StatusForbidden, body)

	tok := newClient(t, ts.URL)
	tok.auth = "Bearer " + apiToken
	code, body, _ = tok.do("PUT", "/api/v1/policy/cap", `{"kw":120,"minutes":30}`)
	want(t, "token cap", code, http.StatusOK, body)
	prom := newClient(t, ts.URL)
	prom.auth = "Bearer " + viewerToken
	code, body, _ = prom.do("GET", "/metrics", "")
	want(t, "metrics with token", code, http.StatusOK, body)
	code, body, _ = prom.do("DELETE", "/api/v1/policy/cap", "")
	want(t, "viewer token control", code, http.StatusForbidden, body)

	got := b.actionLog()
	wantLog := []string{"user:alice pause_group rack1", "token:ci set_cap 120"}
	if strings.Join(got, "|") != strings.Join(wantLog, "|") {
		t.Fatalf("audit trail %q, want %q", got, wantLog)
	}

	code, body, _ = admin.do("POST", "/api/v1/logout", "")
	want(t, "logout", code, http.StatusNoContent, body)
	admin.csrf = ""
	code, body, _ = admin.do("GET", "/api/v1/overview", "")
	want(t, "after logout", code, http.StatusUnauthorized, body)
}

func TestCSRFAndOrigin(t *testing.T) {
	cfg := authConfig()
	cfg.AllowedOrigins = []string{"https://ops.example"}
	s := newServer(t, cfg, newFleetBackend(3, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	if code := c.login("alice", adminPassword); code != http.StatusOK {
		t.Fatal("login failed")
	}
	token := c.csrf

	c.csrf = ""
	code, body, _ := c.do("POST", "/api/v1/groups/rack1/pause", "")
	want(t, "no CSRF token", code, http.StatusForbidden, body)
	c.csrf = "forged"
	code, body, _ = c.do("POST", "/api/v1/groups/rack1/pause", "")
	want(t, "wrong CSRF token", code, http.StatusForbidden, body)
	c.csrf = token
	code, body, _ = c.do("POST", "/api/v1/groups/rack1/pause", "", "Origin", "https://evil.example")
	want(t, "foreign origin", code, http.StatusForbidden, body)
	code, body, _ = c.do("POST", "/api/v1/groups/rack1/pause", "", "Origin", "https://ops.example")
	want(t, "allowed origin", code, http.StatusOK, body)
	code, body, _ = c.do("POST", "/api/v1/groups/rack1/pause", "", "Origin", ts.URL)
	want(t, "own origin", code, http.StatusOK, body)

	// A cross-site form post cannot set a JSON content type.
	code, body, _ = c.do("PUT", "/api/v1/policy/cap", "", "Content-Type", "application/x-www-form-urlencoded")
	want(t, "form body", code, http.StatusUnsupportedMediaType, body)
	code, body, _ = c.do("POST", "/api/v1/login", `{"name":"alice","password":"x"}`, "Origin", "https://evil.example")
	want(t, "login from a foreign origin", code, http.StatusForbidden, body)
}

func TestLoginRateLimitedPerIP(t *testing.T) {
	cfg := authConfig()
	cfg.LoginsPerMinute = 3
	s := newServer(t, cfg, newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	for i := range 3 {
		if code := c.login("alice", "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	code, body, h := c.do("POST", "/api/v1/login", `{"name":"alice","password":"`+adminPassword+`"}`)
	want(t, "fourth attempt", code, http.StatusTooManyRequests, body)
	if h.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Another address is not affected.
	if !s.auth.allowLogin("192.0.2.7") {
		t.Fatal("a different IP was limited")
	}
}

func TestControlsValidateInput(t *testing.T) {
	b := newFleetBackend(1, true)
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + apiToken
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"PUT", "/api/v1/policy/cap", `{"kw":-1,"minutes":10}`, 400},
		{"PUT", "/api/v1/policy/cap", `{"kw":10}`, 400},
		{"PUT", "/api/v1/policy/cap", `{"kw":10,"minutes":100000}`, 400},
		{"PUT", "/api/v1/policy/cap", `{"kw":10,"minutes":10,"extra":1}`, 400},
		{"PUT", "/api/v1/policy/cap", `{"kw":10,"minutes":10} {}`, 400},
		{"POST", "/api/v1/dr", `{"start":"` + end + `","end":"` + start + `","target_kw":100}`, 400},
		{"POST", "/api/v1/dr", `{"start":"` + start + `","end":"` + end + `","target_kw":100}`, 200},
		{"POST", "/api/v1/dr", `{"id":"peak","start":"` + start + `","end":"` + end + `","target_kw":80}`, 200},
		{"DELETE", "/api/v1/dr/peak", ``, 200},
		{"POST", "/api/v1/workers/rack1.m00000/pause", ``, 200},
		{"GET", "/api/v1/workers/abc", ``, 404},
		{"GET", "/api/v1/workers/999999", ``, 404},
		{"GET", "/api/v1/workers/1", ``, 200},
		{"GET", "/api/v1/events?limit=0", ``, 400},
		{"GET", "/api/v1/decisions?limit=5", ``, 200},
	} {
		code, body, _ := c.do(tc.method, tc.path, tc.body)
		want(t, tc.method+" "+tc.path+" "+tc.body, code, tc.code, body)
	}
	pv := s.hub.view()
	_ = pv
	s.hub.forceTick()
	p := s.hub.view().policy
	if len(p.DR) != 2 || p.DR[1].ID != "peak" || p.DR[1].TargetKW != 80 {
		t.Fatalf("DR events %+v", p.DR)
	}
}

func TestNoPolicyDegrades(t *testing.T) {
	cfg := DefaultConfig() // loopback, no accounts: anonymous read-only
	s := newServer(t, cfg, newFleetBackend(2, false))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	code, body, _ := c.do("GET", "/api/v1/policy", "")
	want(t, "policy", code, http.StatusOK, body)
	var p PolicyView
	if err := json.Unmarshal(body, &p); err != nil || p.Enabled || p.Site != nil {
		t.Fatalf("policy view without a policy: %s", body)
	}
	code, body, _ = c.do("GET", "/api/v1/events", "")
	want(t, "events from memory", code, http.StatusOK, body)
	if !strings.Contains(string(body), `"source":"memory"`) {
		t.Fatalf("events: %s", body)
	}
	code, body, _ = c.do("GET", "/api/v1/me", "")
	want(t, "me", code, http.StatusOK, body)
	if !strings.Contains(string(body), `"role":"viewer"`) {
		t.Fatalf("anonymous is not a viewer: %s", body)
	}
	code, body, _ = c.do("POST", "/api/v1/groups/rack1/pause", "")
	want(t, "anonymous control", code, http.StatusForbidden, body)
}

func TestMetrics(t *testing.T) {
	cfg := authConfig()
	cfg.PublicMetrics = true
	cfg.MetricsWorkerCap = 2
	b := newFleetBackend(5, true)
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	code, body, _ := c.do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, body)
	text := string(body)
	for _, line := range []string{
		`hashgate_build_info{goversion="`,
		`hashgate_miners{state="running"} 5`,
		`hashgate_pool_shares_total{pool="main",result="pool_accepted"} 900`,
		`hashgate_pool_up{pool="main"} 1`,
		`hashgate_group_shares_total{group="rack1",result="accepted"} 306`, // workers 0, 2, 4: 100+102+104
		`hashgate_group_workers{group="rack2"} 2`,
		`hashgate_queue_drops_total{reason="stale_job"} 2`,
		`hashgate_policy_power_kw{quantity="budget"} 550`,
		`hashgate_policy_mode{mode="normal"} 1`,
		`hashgate_meter_stale{meter="grid",role="site_import"} 0`,
		`hashgate_meter_readings_total{meter="grid",quality="unavailable"} 1`,
		`hashgate_firmware_commands_total{command="sleep",firmware="braiins",result="ok"} 3`,
		`hashgate_console_metrics_workers_omitted 3`,
		`hashgate_worker_shares_total{result="accepted",worker="rack1.m00000"} 100`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
	if n := strings.Count(text, "hashgate_worker_hashrate_hs{"); n != 2 {
		t.Errorf("%d per-worker hashrate series, want the cap of 2", n)
	}
	// Group counters stay monotonic when a worker disconnects.
	b.mu.Lock()
	b.workers = b.workers[1:]
	b.mu.Unlock()
	s.hub.forceTick()
	_, body, _ = c.do("GET", "/metrics", "")
	if !strings.Contains(string(body), `hashgate_group_shares_total{group="rack1",result="accepted"} 306`) {
		t.Errorf("group counter went down after a disconnect")
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := newServer(t, DefaultConfig(), newFleetBackend(1, false))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	_, _, h := newClient(t, ts.URL).do("GET", "/", "")
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("no nosniff")
	}
}

func TestStatusEndpoint(t *testing.T) {
	b := newFleetBackend(3, false)
	s := newServer(t, authConfig(), b)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous status: %d", rec.Code)
	}
	req := httptest.NewRequest("GET", "/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var st proxy.Status
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &st) != nil || st.Miners != b.Status().Miners {
		t.Fatalf("status: %d %s", rec.Code, rec.Body)
	}
}
