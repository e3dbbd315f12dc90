package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// offlineBackend is the test fleet plus remembered disconnected workers.
type offlineBackend struct {
	*fleetBackend
	mu  sync.Mutex
	off []OfflineWorker
}

func (b *offlineBackend) OfflineWorkers() []OfflineWorker {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]OfflineWorker(nil), b.off...)
}

// TestOfflineWorkersPaged: offline workers are rows of the same paged list (state offline,
// last seen, offline since, holds), filtered by state=offline, counted in total; one that
// reconnected is listed once, as connected; its page answers by name until it is forgotten,
// then 404.
func TestOfflineWorkersPaged(t *testing.T) {
	went := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	b := &offlineBackend{fleetBackend: newFleetBackend(3, true), off: []OfflineWorker{
		{Worker: "rack1.m00000", Group: "rack1", Since: went, LastSeen: went}, // reconnected since
		{Worker: "rack1.x", Group: "rack1", Since: went, LastSeen: went.Add(-time.Minute), Holds: "operator"},
		{Worker: "rack2.y", Since: went},
	}}
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	get := func(path string, v any) int {
		t.Helper()
		code, body, _ := c.do("GET", path, "")
		if code == http.StatusOK {
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatal(err)
			}
		}
		return code
	}
	var r workersResponse
	if get("/api/v1/workers?state=offline", &r) != 200 || r.Total != 5 || r.Matched != 2 || len(r.Workers) != 2 {
		t.Fatalf("offline page: %+v", r)
	}
	x, y := r.Workers[0], r.Workers[1]
	if x.Worker != "rack1.x" || x.State != "offline" || x.ID != 0 || x.Firmware != "braiins" || x.Holds != "operator" ||
		x.LastSeen != went.Add(-time.Minute).UnixMilli() || x.OfflineSince != went.UnixMilli() {
		t.Fatalf("offline row %+v", x)
	}
	if y.Worker != "rack2.y" || y.LastSeen != 0 || y.OfflineSince != went.UnixMilli() {
		t.Fatalf("offline row never seen in this run %+v", y)
	}
	if get("/api/v1/workers?q=rack1.m00000", &r) != 200 || r.Matched != 1 || r.Workers[0].State != "running" {
		t.Fatalf("a reconnected worker: %+v", r.Workers)
	}
	if get("/api/v1/workers?sort=last_seen_ms&order=desc&limit=5", &r) != 200 || len(r.Workers) != 5 || r.Workers[4].Worker != "rack2.y" {
		t.Fatalf("offline rows sorted with the rest: %+v", r.Workers)
	}
	var d struct{ Worker WorkerRow }
	if code := get("/api/v1/workers/rack1.x", &d); code != 200 || d.Worker.State != "offline" || d.Worker.Holds != "operator" {
		t.Fatalf("offline worker's page: %d %+v", code, d.Worker)
	}
	if code := get("/api/v1/workers/rack2.m00001", &d); code != 200 || d.Worker.ID != 2 {
		t.Fatalf("connected worker by name: %d %+v", code, d.Worker)
	}

	b.mu.Lock()
	b.off = b.off[:1] // offline_ttl passed for rack1.x and rack2.y
	b.mu.Unlock()
	s.hub.forceTick()
	if code := get("/api/v1/workers/rack1.x", &d); code != http.StatusNotFound {
		t.Fatalf("a forgotten worker: %d, want 404", code)
	}
	if get("/api/v1/workers?state=offline", &r) != 200 || r.Matched != 0 || r.Total != 3 {
		t.Fatalf("offline page after they were forgotten: %+v", r)
	}
}
