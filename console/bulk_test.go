package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestBulkPauseResume: POST /api/v1/workers/bulk pauses and resumes each listed worker as the
// single endpoints do: one backend call (the audit record) and one live event per worker, the
// admin role required.
func TestBulkPauseResume(t *testing.T) {
	b := newFleetBackend(5, true)
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	admin := newClient(t, ts.URL)
	admin.auth = "Bearer " + apiToken
	names := []string{"rack1.m00000", "rack2.m00001", "rack1.m00002"}
	body := func(action string, ws ...string) string {
		b, _ := json.Marshal(bulkRequest{Action: action, Workers: ws})
		return string(b)
	}

	code, out, _ := admin.do("POST", "/api/v1/workers/bulk", body("pause", names...))
	want(t, "bulk pause", code, http.StatusOK, out)
	var res bulkResponse
	if err := json.Unmarshal(out, &res); err != nil || res.Done != 3 || res.Failed != 0 || len(res.Results) != 3 || res.Actor != "token:ci" {
		t.Fatalf("bulk pause answer: %s", out)
	}
	s.hub.forceTick()
	for _, n := range names {
		if r, ok := s.hub.view().findWorker(n); !ok || r.Holds != "operator" {
			t.Errorf("%s after the bulk pause: %+v", n, r)
		}
	}
	code, out, _ = admin.do("POST", "/api/v1/workers/bulk", body("resume", names[:2]...))
	want(t, "bulk resume", code, http.StatusOK, out)
	b.mu.Lock()
	actions := slices.Clone(b.actions)
	b.mu.Unlock()
	wantActions := []string{"token:ci pause_worker rack1.m00000", "token:ci pause_worker rack2.m00001", "token:ci pause_worker rack1.m00002",
		"token:ci resume_worker rack1.m00000", "token:ci resume_worker rack2.m00001"}
	if !slices.Equal(actions, wantActions) {
		t.Fatalf("audited actions %q, want %q", actions, wantActions)
	}
	var events []string
	for _, e := range s.hub.events.since(0, eventRingLen) {
		if strings.HasPrefix(e.Kind, "control.") {
			events = append(events, e.Kind+" "+e.Subject)
		}
	}
	if len(events) != 5 || events[0] != "control.pause_worker rack1.m00000" || events[4] != "control.resume_worker rack2.m00001" {
		t.Fatalf("live events %q", events)
	}

	viewer := newClient(t, ts.URL)
	viewer.auth = "Bearer " + viewerToken
	code, out, _ = viewer.do("POST", "/api/v1/workers/bulk", body("pause", names...))
	want(t, "viewer bulk pause", code, http.StatusForbidden, out)
}

// TestBulkRefused: a bulk request that is not one the server runs is refused whole, naming
// what is wrong, and nothing is applied.
func TestBulkRefused(t *testing.T) {
	b := newFleetBackend(3, true)
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	admin := newClient(t, ts.URL)
	admin.auth = "Bearer " + apiToken
	many := make([]string, maxBulkWorkers+1)
	for i := range many {
		many[i] = fmt.Sprintf("w%d", i)
	}
	manyJSON, _ := json.Marshal(many)
	for _, tc := range []struct {
		body string
		code int
		says string
	}{
		{`{"action":"shutdown","workers":["rack1.m00000"]}`, 400, "action must be pause, resume, reboot"},
		{`{"action":"power_profile","workers":["rack1.m00000"]}`, 400, "power_profile needs watts"},
		{`{"action":"pause","workers":["rack1.m00000"],"watts":3000}`, 400, "watts is for power_profile only"},
		// Valid, but this backend sends no firmware commands.
		{`{"action":"reboot","workers":["rack1.m00000"]}`, 409, "no firmware control"},
		{`{"action":"pause","workers":[]}`, 400, "workers must list 1..200 names"},
		{`{"action":"pause"}`, 400, "workers must list 1..200 names"},
		{`{"action":"pause","workers":` + string(manyJSON) + `}`, 400, "workers must list 1..200 names"},
		{`{"action":"pause","workers":["rack1.m00000",""]}`, 400, "workers[1]: a name is 1..256 bytes"},
		{`{"action":"pause","workers":["` + strings.Repeat("x", 257) + `"]}`, 400, "workers[0]: a name is 1..256 bytes"},
		{`{"action":"pause","workers":["rack1.m00000","rack1.m00000"]}`, 400, `is listed twice`},
		{`{"action":"pause","workers":"rack1.m00000"}`, 400, "bad JSON body"},
		{`{"action":"pause","workers":["rack1.m00000"],"force":true}`, 400, "unknown field"},
		{`{"action":"pause","workers":["rack1.m00000"]}{}`, 400, "trailing data"},
		{`{"action":"pause","workers":["` + strings.Repeat("y", maxBody) + `"]}`, 413, "body exceeds"},
	} {
		code, out, _ := admin.do("POST", "/api/v1/workers/bulk", tc.body)
		if code != tc.code || !strings.Contains(string(out), tc.says) {
			t.Errorf("%.60s: %d %s, want %d with %q", tc.body, code, out, tc.code, tc.says)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.actions) != 0 {
		t.Fatalf("refused requests applied %q", b.actions)
	}
}
