package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hashgate/hashgate/policy"
)

// wsMsg is the union of server messages, for tests.
type wsMsg struct {
	Type     string          `json:"type"`
	Version  uint64          `json:"version"`
	Overview *Overview       `json:"overview"`
	Workers  []WorkerRow     `json:"workers"`
	Page     *workerPage     `json:"page"`
	Error    string          `json:"error"`
	Events   []EventView     `json:"events"`
	Policy   json.RawMessage `json:"policy"`
	History  []Point         `json:"history"`
}

func dialWS(t *testing.T, ts *httptest.Server, hdr http.Header) *websocket.Conn {
	t.Helper()
	conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/ws", hdr)
	if err != nil {
		code := 0
		if res != nil {
			code = res.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, code)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readMsg(t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // only guards against a hang
	var m wsMsg
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// readUntil reads until a message of type typ with version >= v arrives.
func readUntil(t *testing.T, c *websocket.Conn, typ string, v uint64) wsMsg {
	t.Helper()
	for {
		if m := readMsg(t, c); m.Type == typ && m.Version >= v {
			return m
		}
	}
}

func tokenHeader(tok string) http.Header {
	return http.Header{"Authorization": []string{"Bearer " + tok}}
}

func TestWebsocketSnapshotThenDeltas(t *testing.T) {
	b := newFleetBackend(10, true)
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	c := dialWS(t, ts, tokenHeader(viewerToken))
	snap := readMsg(t, c)
	if snap.Type != "snapshot" || snap.Overview == nil || snap.Overview.Miners.Total != 10 || len(snap.History) == 0 {
		t.Fatalf("first message: %+v", snap)
	}
	if len(snap.Workers) != 0 {
		t.Fatal("snapshot carries the worker table before the client asked for it")
	}

	// Deltas follow in version order; each applies to the one before.
	s.hub.forceTick()
	d := readMsg(t, c)
	if d.Type != "delta" || d.Version != snap.Version+1 {
		t.Fatalf("delta after snapshot v%d: %s v%d", snap.Version, d.Type, d.Version)
	}

	// Following a page brings that page, then the page again only when it changed.
	if err := c.WriteJSON(clientMsg{Type: "watch", Workers: true, Page: &workerQuery{Limit: 4, Sort: "accepted", Order: "desc"}}); err != nil {
		t.Fatal(err)
	}
	pg := readUntil(t, c, "page", 0)
	if p := pg.Page; p == nil || p.Total != 10 || p.Matched != 10 || len(p.Workers) != 4 || p.Workers[0].ID != 10 || p.Query.Sort != "accepted" {
		t.Fatalf("first page: %+v", pg.Page)
	}
	s.hub.forceTick()
	if m := readUntil(t, c, "delta", pg.Version+1); m.Page != nil {
		t.Fatalf("an unchanged page was sent again: %+v", m.Page)
	}
	b.mu.Lock()
	b.workers[3].Shares = map[string]uint64{"accepted": 5000}
	b.workers = b.workers[:9] // worker 10 disconnects
	b.mu.Unlock()
	b.publish(policy.Event{At: time.Now(), Kind: policy.EventNote, Note: policy.Note{Kind: policy.NoteModeChanged, Mode: policy.ModeSafeFloor}})
	// The new order and count go out with the next delta, the event as soon as the hub has
	// consumed it.
	var page *workerPage
	var events []EventView
	for v := pg.Version + 2; page == nil || len(events) == 0; v++ {
		s.hub.forceTick()
		m := readUntil(t, c, "delta", v)
		if m.Page != nil {
			if page != nil {
				t.Fatalf("page sent twice: %+v then %+v", page, m.Page)
			}
			page = m.Page
		}
		events = append(events, m.Events...)
		v = m.Version
	}
	if page.Total != 9 || len(page.Workers) != 4 || page.Workers[0].ID != 4 || page.Workers[0].Accepted != 5000 || page.Workers[1].ID != 9 {
		t.Fatalf("page after the change: %+v", page)
	}
	if len(events) != 1 || events[0].Kind != "policy.note.mode_changed" || events[0].Level != "warn" {
		t.Fatalf("events in deltas: %+v", events)
	}
}

func TestPageChangedSendsStateAtOnce(t *testing.T) {
	page := func(rows ...WorkerRow) *workerPage {
		return &workerPage{Total: len(rows), Matched: len(rows), Workers: rows}
	}
	prev := page(WorkerRow{ID: 1, State: "running"}, WorkerRow{ID: 2, State: "running"})
	for _, tc := range []struct {
		name string
		next *workerPage
		full bool
		want bool
	}{
		{"same", page(WorkerRow{ID: 1, State: "running"}, WorkerRow{ID: 2, State: "running"}), false, false},
		{"counter only", page(WorkerRow{ID: 1, State: "running", Accepted: 7}, WorkerRow{ID: 2, State: "running"}), false, false},
		{"counter on a full round", page(WorkerRow{ID: 1, State: "running", Accepted: 7}, WorkerRow{ID: 2, State: "running"}), true, true},
		{"state", page(WorkerRow{ID: 1, State: "paused"}, WorkerRow{ID: 2, State: "running"}), false, true},
		{"order", page(WorkerRow{ID: 2, State: "running"}, WorkerRow{ID: 1, State: "running"}), false, true},
		{"row gone", page(WorkerRow{ID: 1, State: "running"}), false, true},
		{"total", &workerPage{Total: 3, Matched: 2, Workers: prev.Workers}, false, true},
	} {
		if got := pageChanged(prev, tc.next, tc.full); got != tc.want {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWebsocketOriginChecked(t *testing.T) {
	s := newServer(t, authConfig(), newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	hdr := tokenHeader(viewerToken)
	hdr.Set("Origin", "https://evil.example")
	_, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/ws", hdr)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin upgrade: err %v, response %v", err, res)
	}
	hdr.Set("Origin", ts.URL)
	dialWS(t, ts, hdr) // own origin is fine
}

// TestSendFreeze: a client that stops reading is evicted once its queue fills, and the other
// client keeps receiving every delta meanwhile. Nothing here is timed: each round waits for the
// healthy client to have its delta, and the frozen one only ever holds the hub up if eviction
// is broken (then the test hangs on forceTick and the deadline in readMsg fails it).
func TestSendFreeze(t *testing.T) {
	b := newFleetBackend(10000, true) // ~3 MB per worker delta fills socket buffers quickly
	cfg := authConfig()
	cfg.ClientQueue = 2
	cfg.UpdateInterval = Duration(time.Hour) // rounds only by forceTick: each delta is one round's
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	healthy := dialWS(t, ts, tokenHeader(viewerToken))
	frozen := dialWS(t, ts, tokenHeader(viewerToken))
	for _, c := range []*websocket.Conn{healthy, frozen} {
		readMsg(t, c) // snapshot
		if err := c.WriteJSON(clientMsg{Type: "watch", Workers: true, Page: &workerQuery{Limit: maxPageLimit}}); err != nil {
			t.Fatal(err)
		}
	}
	readUntil(t, healthy, "page", 0)
	// From here on the frozen client reads nothing.

	var last uint64
	for round := 1; s.hub.evicted.Load() == 0; round++ {
		if round > 400 {
			t.Fatal("the frozen client was never evicted")
		}
		b.mu.Lock() // every row changes state: the followed page goes out with every delta
		for i := range b.workers {
			b.workers[i].State = []string{"running", "connecting"}[round%2]
		}
		b.mu.Unlock()
		s.hub.forceTick()
		m := readUntil(t, healthy, "delta", last+1)
		if m.Page == nil || len(m.Page.Workers) != maxPageLimit {
			t.Fatalf("round %d: delta has page %+v", round, m.Page)
		}
		last = m.Version
	}
	if n := s.hub.nclients.Load(); n != 1 {
		t.Fatalf("%d clients after eviction, want 1", n)
	}
	// The healthy client carries on.
	b.setHashrate(1)
	s.hub.forceTick()
	readUntil(t, healthy, "delta", last+1)
}

func TestWebsocketClientLimit(t *testing.T) {
	cfg := authConfig()
	cfg.MaxClients = 1
	s := newServer(t, cfg, newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := dialWS(t, ts, tokenHeader(viewerToken))
	readMsg(t, c) // registered
	_, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/ws", tokenHeader(viewerToken))
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second client: err %v, response %v", err, res)
	}
}
