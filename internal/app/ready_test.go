package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// TestConsoleReadinessAndControlsThroughTheWiring runs hashgate with a push site meter and
// checks the console as the wiring serves it: /readyz is 503 naming the meter until a reading
// is pushed, then 200 with the pool up and the store writable; a push trickled a byte at a
// time is cut off at read_timeout; cancelling an unknown demand-response event or clearing a
// cap that is not set is 404 and leaves nothing in the audit trail.
func TestConsoleReadinessAndControlsThroughTheWiring(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token, pushToken = "hg_e2e_admin_token", "push-token-0123456789"
	f.Console.Tokens = []console.TokenConfig{{Name: "e2e", TokenHash: console.HashToken(token), Role: console.RoleAdmin}}
	f.Console.ReadTimeout = console.Duration(time.Second)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	f.Policy = &p
	f.Fleet = []policy.FleetGroup{{Name: "rack1", Pattern: "rack1.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}}
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source, m.PushToken = "grid", meter.RoleSiteImport, meter.KindHTTP, pushToken
	f.Meter = []meter.Config{m.WithDefaults()}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	base := "http://" + a.ConsoleAddr.String()

	call := func(method, path, bearer, body string) (int, []byte) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, base+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	type ready struct {
		Status  string
		Failing []string
		Checks  []struct {
			Name, Detail string
			OK           bool
		}
	}
	awaitReady := func(what string, before func(), cond func(code int, r ready) bool) ready {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			before()
			code, b := call("GET", "/readyz", "", "")
			var r ready
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("readyz body %s: %v", b, err)
			}
			if cond(code, r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s: %d %s", what, code, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	r := awaitReady("only the meter failing", func() {}, func(code int, r ready) bool {
		return code == http.StatusServiceUnavailable && slices.Equal(r.Failing, []string{"meter"})
	})
	for _, c := range r.Checks {
		if c.Name == "meter" && !strings.Contains(c.Detail, "grid (no good reading yet)") || c.Name == "store" && c.Detail != "writable" {
			t.Fatalf("checks %+v", r.Checks)
		}
	}
	push := func() {
		if code, b := call("POST", "/api/v1/meters/grid/push", pushToken, `{"value":100}`); code != http.StatusNoContent {
			t.Fatalf("push: %d %s", code, b)
		}
	}
	awaitReady("ready once the meter reads", push, func(code int, r ready) bool { return code == http.StatusOK && r.Status == "ready" })

	// A push trickled a byte every 100 ms (4 s of body) is cut off at read_timeout.
	body := `{"value":55}` + strings.Repeat(" ", 30)
	conn, err := net.Dial("tcp", a.ConsoleAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /api/v1/meters/grid/push HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		a.ConsoleAddr, pushToken, len(body)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, _ = io.Copy(io.Discard, conn)
	}()
	sent := 0
trickle:
	for sent < len(body) {
		select {
		case <-closed:
			break trickle
		case <-time.After(100 * time.Millisecond):
			if _, err := conn.Write([]byte{body[sent]}); err != nil {
				break trickle
			}
			sent++
		}
	}
	<-closed
	if sent == len(body) {
		t.Fatal("the trickled push was read to its end")
	}

	code, b := call("DELETE", "/api/v1/dr/no-such-event", token, "")
	if code != http.StatusNotFound || !strings.Contains(string(b), `"error":`) || !strings.Contains(string(b), "no-such-event") {
		t.Fatalf("cancel unknown DR: %d %s", code, b)
	}
	code, b = call("DELETE", "/api/v1/policy/cap", token, "")
	if code != http.StatusNotFound || !strings.Contains(string(b), "no operator cap is set") {
		t.Fatalf("clear unset cap: %d %s", code, b)
	}
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	if code, b := call("POST", "/api/v1/dr", token, `{"id":"peak","start":"`+start+`","end":"`+end+`","target_kw":10}`); code != http.StatusOK {
		t.Fatalf("schedule DR: %d %s", code, b)
	}
	if code, b := call("DELETE", "/api/v1/dr/peak", token, ""); code != http.StatusOK {
		t.Fatalf("cancel DR: %d %s", code, b)
	}
	if code, b := call("DELETE", "/api/v1/dr/peak", token, ""); code != http.StatusNotFound {
		t.Fatalf("cancel DR twice: %d %s", code, b)
	}
	if code, b := call("PUT", "/api/v1/policy/cap", token, `{"kw":50,"minutes":10}`); code != http.StatusOK {
		t.Fatalf("set cap: %d %s", code, b)
	}
	if code, b := call("DELETE", "/api/v1/policy/cap", token, ""); code != http.StatusOK {
		t.Fatalf("clear cap: %d %s", code, b)
	}
	cancels, err := a.Store.Events(context.Background(), store.EventQuery{Kind: power.KindDRCancelled})
	if err != nil {
		t.Fatal(err)
	}
	clears, err := a.Store.Events(context.Background(), store.EventQuery{Kind: power.KindCapCleared})
	if err != nil {
		t.Fatal(err)
	}
	if len(cancels) != 1 || cancels[0].Subject != "peak" || len(clears) != 1 {
		t.Fatalf("audit trail: %d cancellations %+v, %d cap clears", len(cancels), cancels, len(clears))
	}
}
