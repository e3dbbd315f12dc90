package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWorkerRowsSayWhyGatedAndWhetherProven: the worker list and a worker's detail carry
// the gate's hold reasons ([] when open) and the proof the policy counts the worker on; an
// operator's pause from the console shows as an operator hold, its resume lifts it, and a
// worker the power controller knows nothing of is open and unproven.
func TestWorkerRowsSayWhyGatedAndWhetherProven(t *testing.T) {
	b := newFleetBackend(4, true)
	b.workers[1].State = "paused"
	b.gates["rack2.m00001"] = WorkerGate{Holds: "policy,restart", Proof: "held"}
	b.gates["rack1.m00002"] = WorkerGate{Proof: "firmware"}
	delete(b.gates, "rack2.m00003") // a session the controller never saw
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	if code := c.login("alice", adminPassword); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}

	type row struct {
		Worker string   `json:"worker"`
		State  string   `json:"state"`
		Holds  []string `json:"holds"`
		Proven bool     `json:"proven"`
		Proof  string   `json:"proof"`
	}
	rows := func() map[string]row {
		t.Helper()
		s.hub.forceTick()
		code, body, _ := c.do("GET", "/api/v1/workers", "")
		want(t, "workers", code, http.StatusOK, body)
		if !strings.Contains(string(body), `"holds":[]`) {
			t.Fatalf("an open gate's holds are not an empty list: %s", body)
		}
		var res struct{ Workers []row }
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		out := map[string]row{}
		for _, r := range res.Workers {
			out[r.Worker] = r
		}
		return out
	}
	check := func(when string, got map[string]row, want ...row) {
		t.Helper()
		for _, w := range want {
			g := got[w.Worker]
			if g.State != w.State || !slices.Equal(g.Holds, w.Holds) || g.Proven != w.Proven || g.Proof != w.Proof {
				t.Errorf("%s: %+v, want %+v", when, g, w)
			}
		}
	}
	check("start", rows(),
		row{"rack1.m00000", "running", []string{}, true, "share"},
		row{"rack2.m00001", "paused", []string{"policy", "restart"}, true, "held"},
		row{"rack1.m00002", "running", []string{}, true, "firmware"},
		row{"rack2.m00003", "running", []string{}, false, "none"})

	code, body, _ := c.do("POST", "/api/v1/workers/rack1.m00000/pause", "")
	want(t, "pause", code, http.StatusOK, body)
	check("paused by the operator", rows(), row{"rack1.m00000", "paused", []string{"operator"}, true, "share"})
	code, body, _ = c.do("GET", "/api/v1/workers/1", "")
	want(t, "detail", code, http.StatusOK, body)
	var d struct{ Worker row }
	if err := json.Unmarshal(body, &d); err != nil || !slices.Equal(d.Worker.Holds, []string{"operator"}) || !d.Worker.Proven {
		t.Fatalf("detail of the paused worker: %s", body)
	}
	code, body, _ = c.do("POST", "/api/v1/workers/rack1.m00000/resume", "")
	want(t, "resume", code, http.StatusOK, body)
	check("resumed", rows(), row{"rack1.m00000", "running", []string{}, true, "share"})
}

// TestHoldChangesAreSentAtOnce: a change of holds or proof is in the next delta, like a
// change of state, not held back for the next full round.
func TestHoldChangesAreSentAtOnce(t *testing.T) {
	prev := []WorkerRow{{ID: 1, State: "paused", Holds: "policy", Proof: "held"}, {ID: 2, State: "running", Proof: "none"}}
	for i, next := range [][]WorkerRow{
		{{ID: 1, State: "paused", Holds: "policy,operator", Proof: "held"}, prev[1]},
		{prev[0], {ID: 2, State: "running", Proof: "share", Proven: true}},
	} {
		if !pageChanged(&workerPage{Total: 2, Workers: prev}, &workerPage{Total: 2, Workers: next}, false) {
			t.Fatalf("change %d is held back for the next full round", i)
		}
	}
}

// TestHoldListJSON: a list in JSON, a comparable string in the row.
func TestHoldListJSON(t *testing.T) {
	for _, tc := range []struct {
		h    HoldList
		json string
	}{{"", `[]`}, {"operator", `["operator"]`}, {"policy,operator", `["policy","operator"]`}} {
		b, err := json.Marshal(WorkerRow{Holds: tc.h})
		if err != nil || !strings.Contains(string(b), `"holds":`+tc.json) {
			t.Fatalf("%q: %s %v", tc.h, b, err)
		}
		var r WorkerRow
		if err := json.Unmarshal(b, &r); err != nil || r.Holds != tc.h {
			t.Fatalf("%s: decoded %q %v", b, r.Holds, err)
		}
	}
	var r WorkerRow
	if err := json.Unmarshal([]byte(`{"holds":"operator"}`), &r); err == nil {
		t.Fatal("holds as a string accepted")
	}
}

// TestNoPolicyNoProof: without a policy no worker is proven and the gate is open unless the
// operator holds it.
func TestNoPolicyNoProof(t *testing.T) {
	b := newFleetBackend(2, false)
	v := buildView(b, time.Now())
	for _, r := range v.workers {
		if r.Proven || r.Proof != "none" || r.Holds != "" {
			t.Fatalf("%s without a policy: %+v", r.Worker, r)
		}
	}
}
