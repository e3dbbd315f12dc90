package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// dialResult is one websocket dial: the connection, or the status it was refused with.
type dialResult struct {
	conn   *websocket.Conn
	status int
	err    error
}

func dialLimited(url string, hdr http.Header) dialResult {
	c, res, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		r := dialResult{err: err}
		if res != nil {
			r.status = res.StatusCode
			res.Body.Close()
		}
		return r
	}
	return dialResult{conn: c}
}

// TestWebsocketMaxClientsHoldsUnderConcurrentUpgrades: 40 upgrades released at once with
// max_clients = 2 register exactly 2 clients and answer the other 38 with 503; a slot
// frees when a client leaves.
func TestWebsocketMaxClientsHoldsUnderConcurrentUpgrades(t *testing.T) {
	cfg := authConfig()
	cfg.MaxClients = 2
	s := newServer(t, cfg, newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"

	const dials = 40
	start := make(chan struct{})
	results := make(chan dialResult, dials)
	var wg sync.WaitGroup
	for range dials {
		wg.Go(func() {
			<-start
			results <- dialLimited(url, tokenHeader(viewerToken))
		})
	}
	close(start)
	wg.Wait()
	close(results)
	var conns []*websocket.Conn
	refused := 0
	for r := range results {
		switch {
		case r.conn != nil:
			conns = append(conns, r.conn)
		case r.status == http.StatusServiceUnavailable:
			refused++
		default:
			t.Errorf("dial neither accepted nor refused with 503: status %d, %v", r.status, r.err)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if len(conns) != cfg.MaxClients || refused != dials-cfg.MaxClients {
		t.Fatalf("max_clients=%d: %d upgrades accepted, %d refused with 503", cfg.MaxClients, len(conns), refused)
	}
	waitFor(t, "the accepted clients register", func() bool { return s.hub.nclients.Load() == int64(cfg.MaxClients) })

	if r := dialLimited(url, tokenHeader(viewerToken)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a dial with every slot taken: status %d, %v", r.status, r.err)
	}
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	code, metrics, _ := c.do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, nil)
	if line := fmt.Sprintf(`hashgate_queue_drops_total{reason="console_client_limit"} %d`, refused+1); !strings.Contains(string(metrics), line) {
		t.Errorf("metrics lack %s", line)
	}
	conns[0].Close()
	waitFor(t, "a slot frees when a client leaves", func() bool {
		r := dialLimited(url, tokenHeader(viewerToken))
		if r.conn != nil {
			conns[0] = r.conn
			return true
		}
		return false
	})
	if n := s.hub.nclients.Load(); n > int64(cfg.MaxClients) {
		t.Errorf("%d clients registered with max_clients=%d", n, cfg.MaxClients)
	}
}

// TestWebsocketSlotReleasedAfterFailedUpgrade: requests that take a slot but fail the
// upgrade (a plain GET, a foreign Origin) give it back, so they cannot use up max_clients.
func TestWebsocketSlotReleasedAfterFailedUpgrade(t *testing.T) {
	cfg := authConfig()
	cfg.MaxClients = 1
	s := newServer(t, cfg, newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	for range 10 {
		code, body, _ := c.do("GET", "/api/v1/ws", "")
		want(t, "GET without upgrade headers", code, http.StatusBadRequest, body)
		hdr := tokenHeader(viewerToken)
		hdr.Set("Origin", "https://evil.example")
		if r := dialLimited(url, hdr); r.status != http.StatusForbidden {
			t.Fatalf("upgrade from a foreign origin: status %d, %v", r.status, r.err)
		}
	}
	r := dialLimited(url, tokenHeader(viewerToken))
	if r.conn == nil {
		t.Fatalf("the one slot was not free after 20 failed upgrades: status %d, %v", r.status, r.err)
	}
	defer r.conn.Close()
	if r := dialLimited(url, tokenHeader(viewerToken)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a second client with max_clients=1: status %d, %v", r.status, r.err)
	}
}
