package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWorkersPageQuery: GET /api/v1/workers answers one page, filtered and sorted on the
// server, with the count of every worker and of those matching.
func TestWorkersPageQuery(t *testing.T) {
	b := newFleetBackend(30, true) // rack1: even indexes, rack2: odd; accepted = 100 + index
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	get := func(query string) workersResponse {
		t.Helper()
		code, body, _ := c.do("GET", "/api/v1/workers"+query, "")
		want(t, query, code, http.StatusOK, body)
		var r workersResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ids := func(r workersResponse) []uint64 {
		out := []uint64{}
		for _, w := range r.Workers {
			out = append(out, w.ID)
		}
		return out
	}
	eq := func(what string, got []uint64, want ...uint64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: ids %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: ids %v, want %v", what, got, want)
			}
		}
	}

	r := get("")
	if r.Total != 30 || r.Matched != 30 || len(r.Workers) != 30 || r.Query.Limit != defaultPageLimit || r.Query.Sort != "worker" || r.Query.Order != "asc" {
		t.Fatalf("default page: total %d matched %d rows %d query %+v", r.Total, r.Matched, len(r.Workers), r.Query)
	}
	eq("by name", ids(r)[:3], 1, 3, 5) // rack1.m00000, rack1.m00002, rack1.m00004
	eq("by accepted, descending, second page of 4", ids(get("?sort=accepted&order=desc&limit=4&offset=4")), 26, 25, 24, 23)
	r = get("?group=rack2&limit=3")
	if r.Total != 30 || r.Matched != 15 {
		t.Fatalf("group filter: total %d matched %d", r.Total, r.Matched)
	}
	eq("group filter", ids(r), 2, 4, 6)
	eq("name filter in any case", ids(get("?q=RACK1.M0001")), 11, 13, 15, 17, 19)
	eq("address filter", ids(get("?q=10.0.0.2&sort=id")), 3, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)
	eq("past the end", ids(get("?offset=1000")))

	b.mu.Lock()
	b.workers[4].State = "connecting"
	b.mu.Unlock()
	s.hub.forceTick()
	eq("state filter", ids(get("?state=connecting")), 5)
}

// TestWorkersQueryRefused: a query the server will not run is a 400 naming the parameter.
func TestWorkersQueryRefused(t *testing.T) {
	s := newServer(t, authConfig(), newFleetBackend(3, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	for _, tc := range []struct{ query, names string }{
		{"?limit=501", "limit must be 1..500"},
		{"?limit=0", "limit must be 1..500"},
		{"?limit=-1", "limit must be 1..500"},
		{"?limit=ten", "limit must be a number"},
		{"?offset=-5", "offset must be 0.."},
		{"?offset=99999999999999999999", "offset must be a number"},
		{"?sort=password", "sort must be one of accepted, connected_ms,"},
		{"?sort=worker&order=sideways", "order must be asc or desc"},
		{"?state=asleep", "state must be one of running, paused"},
		{"?q=" + strings.Repeat("x", maxQueryText+1), "q is at most 128 bytes"},
		{"?group=" + strings.Repeat("g", maxQueryText+1), "group is at most 128 bytes"},
	} {
		code, body, _ := c.do("GET", "/api/v1/workers"+tc.query, "")
		if code != http.StatusBadRequest || !strings.Contains(string(body), tc.names) {
			t.Errorf("%.40s: %d %s, want 400 with %q", tc.query, code, body, tc.names)
		}
	}
}

// TestWebsocketBadPageQuery: a page the hub will not follow is answered with an error to that
// client, which keeps its connection, its deltas and the page it followed before.
func TestWebsocketBadPageQuery(t *testing.T) {
	cfg := authConfig()
	cfg.UpdateInterval = Duration(time.Hour)
	b := newFleetBackend(20, true)
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := dialWS(t, ts, tokenHeader(viewerToken))
	readMsg(t, c)
	if err := c.WriteJSON(clientMsg{Type: "watch", Workers: true, Page: &workerQuery{Limit: 5}}); err != nil {
		t.Fatal(err)
	}
	if p := readUntil(t, c, "page", 0).Page; p == nil || len(p.Workers) != 5 {
		t.Fatalf("page: %+v", p)
	}
	for _, tc := range []struct{ msg, names string }{
		{`{"type":"watch","workers":true,"page":{"limit":100000}}`, "limit must be 1..500"},
		{`{"type":"watch","workers":true,"page":{"sort":"password"}}`, "sort must be one of"},
		{`{"type":"watch","workers":true,"page":{"offset":"ten"}}`, "page: json: cannot unmarshal string"},
		{`{"type":"watch","workers":true,"page":[1,2]}`, "page: json: cannot unmarshal array"},
		{`{"type":"watch","workers":true,"page":{"state":"<script>"}}`, "state must be one of"},
	} {
		if err := c.WriteMessage(1, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		if m := readUntil(t, c, "error", 0); !strings.Contains(m.Error, tc.names) {
			t.Errorf("%s: error %q, want %q", tc.msg, m.Error, tc.names)
		}
	}
	// Still connected, still following the first page: a change in it comes with the delta.
	b.mu.Lock()
	b.workers[0].State = "connecting"
	b.mu.Unlock()
	s.hub.forceTick()
	d := readUntil(t, c, "delta", 0)
	if d.Page == nil || d.Page.Query.Limit != 5 || d.Page.Workers[0].State != "connecting" {
		t.Fatalf("delta after refused queries: page %+v", d.Page)
	}
	if n := s.hub.nclients.Load(); n != 1 {
		t.Fatalf("%d clients, want 1", n)
	}
}
