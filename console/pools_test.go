package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPoolControlsGuarded: the pool controls are admin controls like the others: a cookie
// session needs its CSRF token and a same-site origin, a viewer is refused, and a backend
// that cannot change pools answers 409 with why. Nothing reaches the backend on the way.
func TestPoolControlsGuarded(t *testing.T) {
	b := newFleetBackend(2, false)
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const add = `{"name":"b","url":"stratum+tcp://127.0.0.1:3333","user":"acct"}`

	admin := newClient(t, ts.URL)
	if code := admin.login("alice", adminPassword); code != http.StatusOK {
		t.Fatalf("admin login: %d", code)
	}
	csrf := admin.csrf
	admin.csrf = ""
	code, body, _ := admin.do("POST", "/api/v1/pools", add)
	want(t, "no CSRF token", code, http.StatusForbidden, body)
	admin.csrf = csrf
	code, body, _ = admin.do("POST", "/api/v1/pools/reorder", `{"names":["main"]}`, "Origin", "http://evil.example")
	want(t, "cross-site origin", code, http.StatusForbidden, body)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/pools", add},
		{"PUT", "/api/v1/pools/main", `{"priority":3}`},
		{"DELETE", "/api/v1/pools/main", ""},
		{"POST", "/api/v1/pools/reorder", `{"names":["main"]}`},
		{"POST", "/api/v1/pools/main/switch", ""},
		{"DELETE", "/api/v1/pools/main/switch", ""},
	} {
		code, body, _ := admin.do(c.method, c.path, c.body)
		want(t, c.method+" "+c.path+" without a pool controller", code, http.StatusConflict, body)
		if !strings.Contains(string(body), "pools cannot be changed here") {
			t.Errorf("%s %s: %s", c.method, c.path, body)
		}
	}

	viewer := newClient(t, ts.URL)
	viewer.auth = "Bearer " + viewerToken
	code, body, _ = viewer.do("DELETE", "/api/v1/pools/main", "")
	want(t, "viewer", code, http.StatusForbidden, body)
	if got := b.actionLog(); len(got) != 0 {
		t.Fatalf("controls reached the backend: %q", got)
	}
}
