package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// siteBackend is a fleetBackend with settable meters and a real store behind StoreHealth.
type siteBackend struct {
	*fleetBackend
	st *store.Store

	mu     sync.Mutex
	meters []MeterStatus
	block  chan struct{} // while non-nil, Workers waits for it to close (a stuck proxy)
}

func (b *siteBackend) Meters() []MeterStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.meters)
}

func (b *siteBackend) StoreHealth(ctx context.Context) error { return b.st.Health(ctx) }

func (b *siteBackend) Workers() []proxy.WorkerStats {
	b.mu.Lock()
	ch := b.block
	b.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return b.fleetBackend.Workers()
}

func (b *siteBackend) setMeters(ms ...MeterStatus) {
	b.mu.Lock()
	b.meters = ms
	b.mu.Unlock()
}

func (b *siteBackend) setPoolState(state, reason string) {
	b.fleetBackend.mu.Lock()
	b.pools[0].State, b.pools[0].Reason = state, reason
	b.fleetBackend.mu.Unlock()
}

func newSiteBackend(t *testing.T) *siteBackend {
	t.Helper()
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "console.db")
	sc.PruneInterval = 0
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &siteBackend{fleetBackend: newFleetBackend(2, true), st: st}
}

func getReady(t *testing.T, url string) (int, readyResponse) {
	t.Helper()
	res, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r readyResponse
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, r
}

func check(r readyResponse, name string) readyCheck {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return readyCheck{Name: name, Detail: "missing"}
}

// TestReadyzNamesEachCheck: /readyz needs no login and answers 200 only when a pool is up,
// every site meter is fresh and the store takes a write; otherwise 503 naming what failed.
// The store is probed at most every storeProbeEvery on the console's clock.
func TestReadyzNamesEachCheck(t *testing.T) {
	b := newSiteBackend(t)
	clk := clock.NewManual(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s, err := New(authConfig(), b, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() { s.Close() })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	// No site meter (a plain proxy): not configured, which passes.
	code, r := getReady(t, ts.URL)
	if code != http.StatusOK || r.Status != "ready" || len(r.Failing) != 0 || check(r, "meter").Detail != "not configured" ||
		check(r, "pool").Detail != "up: main" || check(r, "store").Detail != "writable" {
		t.Fatalf("ready site: %d %+v", code, r)
	}

	b.setPoolState("down", "disconnected")
	code, r = getReady(t, ts.URL)
	if code != http.StatusServiceUnavailable || r.Status != "not_ready" || !slices.Equal(r.Failing, []string{"pool"}) ||
		!strings.Contains(check(r, "pool").Detail, "main (disconnected)") {
		t.Fatalf("pool down: %d %+v", code, r)
	}
	b.setPoolState("up", "")

	at := clk.Now().Add(-time.Minute)
	b.setMeters(
		MeterStatus{Name: "grid", Role: policy.RoleSiteImport, At: at, Stale: true},
		MeterStatus{Name: "ai", Role: policy.RoleAILoad, Stale: true}, // not the site meter
	)
	code, r = getReady(t, ts.URL)
	if code != http.StatusServiceUnavailable || !slices.Equal(r.Failing, []string{"meter"}) ||
		!strings.Contains(check(r, "meter").Detail, "grid (last good reading "+at.Format(time.RFC3339)+")") {
		t.Fatalf("stale site meter: %d %+v", code, r)
	}
	b.setMeters(MeterStatus{Name: "grid", Role: policy.RoleSiteImport, Stale: true})
	code, r = getReady(t, ts.URL)
	if code != http.StatusServiceUnavailable || !strings.Contains(check(r, "meter").Detail, "grid (no good reading yet)") {
		t.Fatalf("site meter never read: %d %+v", code, r)
	}
	b.setMeters(MeterStatus{Name: "grid", Role: policy.RoleSiteImport, At: clk.Now(), Quality: "good"})
	code, r = getReady(t, ts.URL)
	if code != http.StatusOK || check(r, "meter").Detail != "fresh: grid" {
		t.Fatalf("fresh site meter: %d %+v", code, r)
	}

	// The store closes: the cached probe stands until storeProbeEvery has passed.
	b.st.Close()
	if code, r = getReady(t, ts.URL); code != http.StatusOK {
		t.Fatalf("within the probe interval: %d %+v", code, r)
	}
	clk.Advance(storeProbeEvery)
	code, r = getReady(t, ts.URL)
	if code != http.StatusServiceUnavailable || !slices.Equal(r.Failing, []string{"store"}) ||
		!strings.Contains(check(r, "store").Detail, "not writable") || !strings.Contains(check(r, "store").Detail, "closed") {
		t.Fatalf("closed store: %d %+v", code, r)
	}

	// Without a StoreChecker the store is not configured, which passes.
	plain := newServer(t, authConfig(), newFleetBackend(1, true))
	tp := httptest.NewServer(plain.Handler())
	defer tp.Close()
	if code, r = getReady(t, tp.URL); code != http.StatusOK || check(r, "store").Detail != "not configured" {
		t.Fatalf("no store: %d %+v", code, r)
	}
}

// TestHealthzSaysWhenTheUpdateLoopIsStuck: /healthz is 200 while the update loop answers,
// 503 "stuck" once it has not for livenessWait (here a backend read that never returns), and
// 200 again when it is free.
func TestHealthzSaysWhenTheUpdateLoopIsStuck(t *testing.T) {
	b := newSiteBackend(t)
	clk := clock.NewManual(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s, err := New(authConfig(), b, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() { s.Close() })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	get := func() (int, string) {
		res, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer res.Body.Close()
		var m map[string]string
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m["status"]
	}
	if code, st := get(); code != http.StatusOK || st != "ok" {
		t.Fatalf("healthy: %d %s", code, st)
	}

	unblock := make(chan struct{})
	b.mu.Lock()
	b.block = unblock
	b.mu.Unlock()
	pending := clk.Pending() // the hub's ticker
	clk.Advance(DefaultConfig().UpdateInterval.D())
	// The next tick is stuck in Workers; a liveness check now waits on its timer.
	type answer struct {
		code int
		st   string
	}
	got := make(chan answer, 1)
	go func() {
		code, st := get()
		got <- answer{code, st}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for clk.Pending() <= pending {
		if time.Now().After(deadline) {
			t.Fatal("the liveness check never started its timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	clk.Advance(livenessWait)
	if a := <-got; a.code != http.StatusServiceUnavailable || a.st != "stuck" {
		t.Fatalf("stuck loop: %d %s", a.code, a.st)
	}

	b.mu.Lock()
	b.block = nil
	b.mu.Unlock()
	close(unblock)
	if code, st := get(); code != http.StatusOK || st != "ok" {
		t.Fatalf("after the loop is free: %d %s", code, st)
	}
}
