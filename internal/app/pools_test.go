package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

const (
	poolAdminToken  = "hg_pools_admin"
	poolViewerToken = "hg_pools_viewer"
	poolSecret      = "s3cret-pool-pass"
)

// poolsFile is a config with pool "p" on paddr, an admin and a viewer token.
func poolsFile(t *testing.T, paddr string) config.File {
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Console.Tokens = []console.TokenConfig{
		{Name: "ops", TokenHash: console.HashToken(poolAdminToken), Role: console.RoleAdmin},
		{Name: "watch", TokenHash: console.HashToken(poolViewerToken), Role: console.RoleViewer},
	}
	f.Console.UpdateInterval = console.Duration(100 * time.Millisecond)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

func startPoolsApp(t *testing.T, f *config.File) *App {
	t.Helper()
	return startPoolsAppLog(t, f, zerolog.Nop())
}

func startPoolsAppLog(t *testing.T, f *config.File, log zerolog.Logger) *App {
	t.Helper()
	a, err := Start(context.Background(), f, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// send makes one console request; token "" sends none. It returns the status and body.
func send(t *testing.T, a *App, method, path, token, contentType, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+a.ConsoleAddr.String()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// admin sends a JSON control as the admin token and wants 200.
func admin(t *testing.T, a *App, method, path, body string) {
	t.Helper()
	if code, b := send(t, a, method, path, poolAdminToken, "application/json", body); code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
}

func poolRowOf(a *App, name string) (proxy.PoolStats, bool) {
	for _, st := range a.Proxy.Pools() {
		if st.Name == name {
			return st, true
		}
	}
	return proxy.PoolStats{}, false
}

func poolNames(a *App) string {
	var out []string
	for _, st := range a.Proxy.Pools() {
		out = append(out, st.Name)
	}
	return strings.Join(out, ",")
}

// TestPoolsConsoleEditsPersistAndAudit drives the pools from the console's REST API against
// the real proxy, store and simulated pools: an added pool connects, the active pool's url
// moved to another pool takes the miners' shares there with no miner reconnecting, a reorder
// and a removal apply, a forced switch sends the shares to the chosen pool and clearing it
// hands the miners back to priority; every change is in the audit trail with its actor and
// without the password, and a restart with the same store runs the edited pools.
func TestPoolsConsoleEditsPersistAndAudit(t *testing.T) {
	spA, addrA := startTestPool(t)
	spB, addrB := startTestPool(t)
	spC, addrC := startTestPool(t)
	f := poolsFile(t, addrA)
	a := startPoolsApp(t, &f)

	ms, stopMiners := runMiners(a, "rack1.a", "rack1.b")
	defer stopMiners()
	waitFor(t, "shares at pool A", func() bool { return spA.Accepted() >= 2 })
	connects := func() (n uint64) {
		for _, m := range ms {
			n += m.Stats.Connects.Load()
		}
		return n
	}
	before := connects()

	admin(t, a, "POST", "/api/v1/pools", `{"name":"b","url":"stratum+tcp://`+addrB+`","user":"acct","password":"`+poolSecret+`"}`)
	waitFor(t, "pool b to connect", func() bool {
		st, ok := poolRowOf(a, "b")
		return ok && st.State == "up" && spB.Connections() == 1
	})
	if st, _ := poolRowOf(a, "b"); st.Priority != 1 || st.Active {
		t.Fatalf("added pool: %+v", st)
	}

	admin(t, a, "PUT", "/api/v1/pools/p", `{"url":"stratum+tcp://`+addrC+`"}`)
	waitFor(t, "pool A's connection to close", func() bool { return spA.Connections() == 0 })
	waitFor(t, "shares at C, pool p's new url", func() bool { return spC.Accepted() >= 2 })
	if got := connects(); got != before {
		t.Fatalf("miners reconnected %d times for a pool edit", got-before)
	}

	admin(t, a, "POST", "/api/v1/pools", `{"name":"tmp","url":"stratum+tcp://127.0.0.1:1","user":"acct","priority":7}`)
	admin(t, a, "DELETE", "/api/v1/pools/tmp", "")
	admin(t, a, "POST", "/api/v1/pools/reorder", `{"names":["b","p"]}`)
	if got := poolNames(a); got != "b,p" {
		t.Fatalf("pools after reorder: %s", got)
	}

	// A forced switch to p, now second: at once, and the shares follow.
	admin(t, a, "POST", "/api/v1/pools/p/switch", "")
	if st, _ := poolRowOf(a, "p"); !st.Active || !st.Forced {
		t.Fatalf("switched pool: %+v", st)
	}
	atC := spC.Accepted()
	waitFor(t, "shares at the switched-to pool", func() bool { return spC.Accepted() >= atC+2 })
	admin(t, a, "DELETE", "/api/v1/pools/p/switch", "")
	if a.Proxy.ForcedPool() != "" {
		t.Fatal("switch not cleared")
	}
	waitFor(t, "b, now first, to take the miners back", func() bool { st, _ := poolRowOf(a, "b"); return st.Active })

	// The audit trail: who, what, before and after; never the password.
	code, body := send(t, a, "GET", "/api/v1/events?limit=50", poolViewerToken, "", "")
	if code != http.StatusOK {
		t.Fatalf("events: %d %s", code, body)
	}
	var evs struct {
		Source string
		Events []struct {
			Kind    string          `json:"kind"`
			Subject string          `json:"subject"`
			Actor   string          `json:"actor"`
			Detail  json.RawMessage `json:"detail"`
		}
	}
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs.Events {
		if !strings.HasPrefix(e.Kind, "pool.") {
			continue
		}
		kinds = append(kinds, e.Kind+" "+e.Subject)
		if e.Actor != "token:ops" {
			t.Errorf("%s by %q", e.Kind, e.Actor)
		}
		if e.Kind == KindPoolEdit {
			var d poolChange
			if err := json.Unmarshal(e.Detail, &d); err != nil || d.Before == nil || d.After == nil ||
				d.Before.URL != "stratum+tcp://"+addrA || d.After.URL != "stratum+tcp://"+addrC || d.PasswordChanged {
				t.Errorf("edit detail %s (%v)", e.Detail, err)
			}
		}
	}
	slices.Reverse(kinds)
	want := []string{"pool.add b", "pool.edit p", "pool.add tmp", "pool.remove tmp", "pool.reorder ", "pool.switch p", "pool.switch_clear p"}
	if !slices.Equal(kinds, want) || evs.Source != "store" {
		t.Fatalf("audited %q from %s, want %q", kinds, evs.Source, want)
	}
	if strings.Contains(body, poolSecret) {
		t.Fatal("the audit trail holds a pool password")
	}
	for _, path := range []string{"/api/v1/pools", "/api/v1/snapshot"} {
		if code, b := send(t, a, "GET", path, poolViewerToken, "", ""); code != http.StatusOK || strings.Contains(b, poolSecret) || strings.Contains(b, "password\"") {
			t.Fatalf("GET %s: %d, holds a password: %v", path, code, strings.Contains(b, poolSecret))
		}
	}

	// Restart on the same store and file: the edited pools run, b with its password.
	stopMiners()
	a.Close()
	var logs lockedBuffer
	a2 := startPoolsAppLog(t, &f, zerolog.New(&logs))
	if got := poolNames(a2); got != "b,p" {
		t.Fatalf("pools after restart: %s", got)
	}
	if !strings.Contains(logs.String(), `"added":["b"],"edited":["p"],"removed":[],"message":"pools differ from the config file: the console's edits are applied over it"`) {
		t.Fatalf("no start line saying how the pools differ from the file:\n%s", logs.String())
	}
	pcs := a2.Proxy.PoolConfigs()
	if pcs[0].Password != poolSecret || pcs[1].URL != "stratum+tcp://"+addrC || pcs[0].Priority != 0 || pcs[1].Priority != 1 {
		t.Fatalf("pool set after restart: %+v", pcs)
	}
	waitFor(t, "both edited pools up after the restart", func() bool {
		b, _ := poolRowOf(a2, "b")
		p, _ := poolRowOf(a2, "p")
		return b.State == "up" && p.State == "up"
	})
	if n := spA.Connections(); n != 0 {
		t.Fatalf("the file's url for p was dialled after restart (%d connections)", n)
	}
}

// TestPoolsConsoleBadInput: every bad pool request gets a clear 4xx and changes nothing.
func TestPoolsConsoleBadInput(t *testing.T) {
	_, addrA := startTestPool(t)
	spB, addrB := startTestPool(t)
	f := poolsFile(t, addrA)
	a := startPoolsApp(t, &f)
	waitFor(t, "pool p up", func() bool { st, _ := poolRowOf(a, "p"); return st.State == "up" })
	const js = "application/json"
	good := `{"name":"b","url":"stratum+tcp://` + addrB + `","user":"acct"}`
	for _, c := range []struct {
		what, method, path, token, ctype, body string
		code                                   int
		says                                   string
	}{
		{"no auth", "POST", "/api/v1/pools", "", js, good, 401, "authentication required"},
		{"viewer", "POST", "/api/v1/pools", poolViewerToken, js, good, 403, "admin role"},
		{"wrong method", "PATCH", "/api/v1/pools/p", poolAdminToken, js, `{}`, 405, ""},
		{"not JSON", "POST", "/api/v1/pools", poolAdminToken, "text/plain", good, 415, "Content-Type"},
		{"oversized body", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"` + strings.Repeat("x", 20<<10) + `"}`, 413, "body exceeds"},
		{"unknown field", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"stratum+tcp://h:1","user":"u","weigth":3}`, 400, "unknown field"},
		{"trailing data", "POST", "/api/v1/pools", poolAdminToken, js, good + `{}`, 400, "trailing"},
		{"bad url scheme", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"http://h:1","user":"u"}`, 400, "pool.url: unsupported scheme"},
		{"url without port", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"stratum+tcp://h","user":"u"}`, 400, "pool.url: URL needs host:port"},
		{"sv2 without key", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"stratum2+tcp://h:1","user":"u"}`, 400, "authority key"},
		{"no user", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"stratum+tcp://h:1"}`, 400, "user: must be set"},
		{"no name", "POST", "/api/v1/pools", poolAdminToken, js, `{"url":"stratum+tcp://h:1","user":"u"}`, 400, "name: must be set"},
		{"long name", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"` + strings.Repeat("n", 65) + `","url":"stratum+tcp://h:1","user":"u"}`, 400, "name: at most 64"},
		{"control character", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b\u0007","url":"stratum+tcp://h:1","user":"u"}`, 400, "control characters"},
		{"huge priority", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"b","url":"stratum+tcp://h:1","user":"u","priority":99999999}`, 400, "priority"},
		{"duplicate name", "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"p","url":"stratum+tcp://h:1","user":"u"}`, 409, `a pool named \"p\" exists`},
		{"edit unknown pool", "PUT", "/api/v1/pools/nope", poolAdminToken, js, `{"priority":1}`, 404, `no pool named \"nope\"`},
		{"edit nothing", "PUT", "/api/v1/pools/p", poolAdminToken, js, `{}`, 400, "nothing to change"},
		{"edit to a bad url", "PUT", "/api/v1/pools/p", poolAdminToken, js, `{"url":"stratum+tcp://h:99999"}`, 400, "pool.url: bad port"},
		{"edit the name", "PUT", "/api/v1/pools/p", poolAdminToken, js, `{"name":"q"}`, 400, "unknown field"},
		{"remove the last pool", "DELETE", "/api/v1/pools/p", poolAdminToken, "", "", 409, "last pool"},
		{"remove unknown pool", "DELETE", "/api/v1/pools/nope", poolAdminToken, "", "", 404, "no pool"},
		{"reorder a missing pool", "POST", "/api/v1/pools/reorder", poolAdminToken, js, `{"names":["nope"]}`, 404, "no pool"},
		{"reorder twice", "POST", "/api/v1/pools/reorder", poolAdminToken, js, `{"names":["p","p"]}`, 400, "given twice"},
		{"reorder too few", "POST", "/api/v1/pools/reorder", poolAdminToken, js, `{"names":[]}`, 400, "every pool once"},
		{"switch to unknown", "POST", "/api/v1/pools/nope/switch", poolAdminToken, "", "", 404, "no pool"},
		{"clear a switch never made", "DELETE", "/api/v1/pools/p/switch", poolAdminToken, "", "", 404, "not switched"},
	} {
		code, body := send(t, a, c.method, c.path, c.token, c.ctype, c.body)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d %q", c.what, code, body, c.code, c.says)
		}
	}
	if got := poolNames(a); got != "p" {
		t.Fatalf("pools after bad requests: %s", got)
	}
	if edits, err := a.Store.PoolEdits(context.Background()); err != nil || len(edits) != 0 {
		t.Fatalf("stored edits after bad requests: %+v %v", edits, err)
	}

	// A switch to a pool that is down is refused with its reason; nothing is audited.
	admin(t, a, "POST", "/api/v1/pools", `{"name":"down","url":"stratum+tcp://127.0.0.1:1","user":"acct"}`)
	if code, body := send(t, a, "POST", "/api/v1/pools/down/switch", poolAdminToken, "", ""); code != http.StatusConflict || !strings.Contains(body, "pool is not up") {
		t.Fatalf("switch to a down pool: %d %s", code, body)
	}
	es, err := a.Store.Events(context.Background(), store.EventQuery{Kind: KindPoolSwitch})
	if err != nil || len(es) != 0 {
		t.Fatalf("switch events: %+v %v", es, err)
	}
	if spB.Connections() != 0 {
		t.Fatal("a refused pool was dialled")
	}
}

// TestPoolEditsOverFile: stored edits apply over the file by name, a file change to a pool
// the console did not touch still applies, and edits that leave no valid set give way to the
// file.
func TestPoolEditsOverFile(t *testing.T) {
	file := []proxy.PoolConfig{
		{Name: "a", URL: "stratum+tcp://a:1", User: "u", Priority: 0},
		{Name: "b", URL: "stratum+tcp://b:1", User: "u", Priority: 1},
	}
	run := []proxy.PoolConfig{
		{Name: "c", URL: "stratum+tcp://c:1", User: "u", Password: "pw", Priority: 0},
		{Name: "a", URL: "stratum+tcp://a2:1", User: "u", Priority: 1, Weight: 30}, // the file's weight kept
	}
	file[0].Weight = 30
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	edits := poolEditsFor(file, run, nil, t0, "user:alice")
	if len(edits) != 3 || edits[0].Name != "c" || edits[1].Name != "a" || edits[1].Weight != 30 || !edits[2].Removed || edits[2].Name != "b" {
		t.Fatalf("edits: %+v", edits)
	}
	if got := applyPoolEdits(file, edits); !slices.Equal(got, run) {
		t.Fatalf("applied: %+v", got)
	}
	// Made again later with the same outcome for a, b and c: each keeps when and by whom.
	again := poolEditsFor(file, run, edits, t0.Add(time.Hour), "user:bob")
	if !slices.Equal(again, edits) {
		t.Fatalf("unchanged edits restamped: %+v", again)
	}
	// The file's own change to a pool the console left alone applies.
	file2 := append(slices.Clone(file), proxy.PoolConfig{Name: "d", URL: "stratum+tcp://d:1", User: "u", Priority: 5})
	if got := applyPoolEdits(file2, edits); len(got) != 3 || got[2].Name != "d" {
		t.Fatalf("file pool d: %+v", got)
	}
	added, edited, removed := poolDiff(file, run)
	if !slices.Equal(added, []string{"c"}) || !slices.Equal(edited, []string{"a"}) || !slices.Equal(removed, []string{"b"}) {
		t.Fatalf("diff %v %v %v", added, edited, removed)
	}
}

// TestPoolEditsRestoredOverAChangedFile: a restart whose file no longer fits the stored
// edits (every pool they leave was removed) runs the file's pools instead of none.
func TestPoolEditsRestoredOverAChangedFile(t *testing.T) {
	_, addrA := startTestPool(t)
	_, addrB := startTestPool(t)
	f := poolsFile(t, addrA)
	f.Pool = append(f.Pool, proxy.PoolConfig{Name: "q", URL: "stratum+tcp://" + addrB, User: "acct", Priority: 1})
	a := startPoolsApp(t, &f)
	admin(t, a, "DELETE", "/api/v1/pools/p", "")
	a.Close()
	// The next file has only p, which the console removed.
	f.Pool = f.Pool[:1]
	var logs lockedBuffer
	a2 := startPoolsAppLog(t, &f, zerolog.New(&logs))
	if got := poolNames(a2); got != "p" {
		t.Fatalf("pools: %s", got)
	}
	if !strings.Contains(logs.String(), "the console's pool edits do not make a valid set with this config file") {
		t.Fatalf("no line saying the file's pools run:\n%s", logs.String())
	}
}
