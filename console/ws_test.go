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
	Removed  []uint64        `json:"removed"`
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

	// Watching workers brings the full table, then only changed rows.
	if err := c.WriteJSON(clientMsg{Type: "watch", Workers: true}); err != nil {
		t.Fatal(err)
	}
	tbl := readUntil(t, c, "workers", 0)
	if len(tbl.Workers) != 10 {
		t.Fatalf("worker table has %d rows", len(tbl.Workers))
	}
	b.mu.Lock()
	b.workers[3].Shares = map[string]uint64{"accepted": 5000}
	b.workers = b.workers[:9] // worker 10 disconnects
	b.mu.Unlock()
	b.publish(policy.Event{At: time.Now(), Kind: policy.EventNote, Note: policy.Note{Kind: policy.NoteModeChanged, Mode: policy.ModeSafeFloor}})
	// The removal goes out with the next delta, the counter change with the next periodic
	// refresh of the table, the event as soon as the hub has consumed it.
	var removed []uint64
	var changed []WorkerRow
	var events []EventView
	for v := tbl.Version + 1; removed == nil || changed == nil || len(events) == 0; v++ {
		s.hub.forceTick()
		m := readUntil(t, c, "delta", v)
		if len(m.Removed) > 0 {
			if removed != nil {
				t.Fatalf("removal sent twice: %v then %v", removed, m.Removed)
			}
			removed = m.Removed
		}
		if len(m.Workers) > 0 {
			if changed != nil {
				t.Fatalf("row sent twice: %+v then %+v", changed, m.Workers)
			}
			changed = m.Workers
		}
		events = append(events, m.Events...)
		v = m.Version
	}
	if len(changed) != 1 || changed[0].ID != 4 || changed[0].Accepted != 5000 || len(removed) != 1 || removed[0] != 10 {
		t.Fatalf("worker delta: changed %+v removed %v", changed, removed)
	}
	if len(events) != 1 || events[0].Kind != "policy.note.mode_changed" || events[0].Level != "warn" {
		t.Fatalf("events in deltas: %+v", events)
	}
}

func TestDiffWorkersSendsStateAtOnce(t *testing.T) {
	prev := []WorkerRow{{ID: 1, State: "running"}, {ID: 2, State: "running"}, {ID: 3, State: "running"}}
	next := []WorkerRow{{ID: 1, State: "paused"}, {ID: 2, State: "running", Accepted: 7}, {ID: 4, State: "connecting"}}
	d, held := diffWorkers(prev, next, false)
	if len(d.Workers) != 2 || d.Workers[0].ID != 1 || d.Workers[1].ID != 4 || len(d.Removed) != 1 || d.Removed[0] != 3 {
		t.Fatalf("partial delta %+v", d)
	}
	if len(held) != 3 || held[1].Accepted != 0 {
		t.Fatalf("held table %+v", held)
	}
	d, held = diffWorkers(held, next, true)
	if len(d.Workers) != 1 || d.Workers[0].ID != 2 || len(d.Removed) != 0 || held[1].Accepted != 7 {
		t.Fatalf("full delta %+v, held %+v", d, held)
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
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	healthy := dialWS(t, ts, tokenHeader(viewerToken))
	frozen := dialWS(t, ts, tokenHeader(viewerToken))
	for _, c := range []*websocket.Conn{healthy, frozen} {
		readMsg(t, c) // snapshot
		if err := c.WriteJSON(clientMsg{Type: "watch", Workers: true}); err != nil {
			t.Fatal(err)
		}
	}
	readUntil(t, healthy, "workers", 0)
	// From here on the frozen client reads nothing.

	var last uint64
	for round := 1; s.hub.evicted.Load() == 0; round++ {
		if round > 200 {
			t.Fatal("the frozen client was never evicted")
		}
		b.setHashrate(float64(round) * 1e12) // every row changes
		s.hub.forceTick()
		m := readUntil(t, healthy, "delta", last+1)
		if len(m.Workers) != 0 && len(m.Workers) != 10000 {
			t.Fatalf("round %d: delta has %d rows", round, len(m.Workers))
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
