package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
)

// settable is a Source whose snapshot the test sets: the engine's input, as the policy
// engine's tests feed it readings. The wiring's Source over the real proxy, power controller
// and store is tested in internal/app.
type settable struct {
	mu sync.Mutex
	s  Snapshot
}

func (s *settable) set(v Snapshot) {
	s.mu.Lock()
	s.s = v
	s.mu.Unlock()
}

func (s *settable) Snapshot(context.Context) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s
}

// receiver is a real HTTP server on loopback recording what webhooks POST.
type receiver struct {
	*httptest.Server
	got  chan received
	hits atomic.Int64
}

type received struct {
	p      Payload
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answer func(n int64, w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{got: make(chan received, 256)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.hits.Add(1)
		body, _ := io.ReadAll(req.Body)
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("receiver: bad JSON %q: %v", body, err)
		}
		if answer != nil {
			answer(n, w)
		}
		r.got <- received{p, req.Header.Clone(), body}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case v := <-r.got:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("no notification within 30s")
		return received{}
	}
}

func (r *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case v := <-r.got:
		t.Fatalf("unexpected notification %+v", v.p)
	default:
	}
}

// eventually advances clk by step until cond holds, with a generous real-time deadline.
func eventually(t *testing.T, clk *clock.Manual, step time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		clk.Advance(step)
		time.Sleep(5 * time.Millisecond)
	}
}

func startEngine(t *testing.T, cfg Config, src Source, clk clock.Clock, log zerolog.Logger) (*Engine, context.CancelFunc, chan struct{}) {
	t.Helper()
	e, err := New(cfg, src, Options{Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		e.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return e, cancel, done
}

// TestEngineFiresRepeatsResolves: an alert fires once its condition held pool_down_for,
// repeats at repeat_interval, resolves when the condition ends, and each change reaches the
// receiver as Slack-compatible JSON signed with the secret and carrying the headers.
func TestEngineFiresRepeatsResolves(t *testing.T) {
	clk := clock.NewManual(t0)
	rcv := newReceiver(t, nil)
	cfg := DefaultConfig()
	cfg.Instance = "site-a"
	cfg.RepeatInterval = Duration(time.Hour)
	cfg.Webhooks = []WebhookConfig{{URL: rcv.URL + "/hook", Secret: "k", Headers: map[string]string{"Authorization": "Bearer t"}}}
	src := &settable{}
	src.set(Snapshot{Pools: []Pool{{Name: "main", State: "down", Reason: "connection refused"}}})
	e, err := New(cfg, src, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tick := cfg.CheckInterval.D()
	e.check(ctx)
	for i := 0; i < 3; i++ { // 45 s: still pending
		clk.Advance(tick)
		e.check(ctx)
	}
	if a := e.Latest().Firing; len(a) != 0 || len(e.hooks[0].queue) != 0 {
		t.Fatalf("fired before pool_down_for: %+v", a)
	}
	clk.Advance(tick)
	e.check(ctx) // 60 s
	rep := e.Latest()
	if !rep.At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("checked at %v", rep.At)
	}
	a := rep.Firing
	if len(a) != 1 || a[0].Name != NameNoPoolUp || a[0].Severity != SeverityCritical || !a[0].Since.Equal(t0) ||
		!a[0].FiringSince.Equal(t0.Add(time.Minute)) {
		t.Fatalf("active %+v", a)
	}
	a[0].Name = "changed by the caller"
	if e.Latest().Firing[0].Name != NameNoPoolUp {
		t.Fatal("Active shares its slice with the caller")
	}

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { e.hooks[0].run(runCtx) })
	defer func() { cancel(); wg.Wait() }()
	r := rcv.next(t)
	if r.p.Status != statusFiring || r.p.Repeat || r.p.Instance != "site-a" || r.p.Alert.Name != NameNoPoolUp ||
		r.p.Text != "[FIRING critical] site-a: No pool is up: miners get no work. Every pool is down: main (connection refused)." {
		t.Fatalf("firing payload %+v", r.p)
	}
	ts := r.header.Get("X-Hashgate-Timestamp")
	if r.header.Get("X-Hashgate-Signature") != Sign("k", ts, r.body) || ts != "1772366460" ||
		r.header.Get("Authorization") != "Bearer t" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.header)
	}

	for i := 0; i < 3; i++ {
		clk.Advance(20 * time.Minute)
		e.check(ctx)
	}
	if r = rcv.next(t); r.p.Status != statusFiring || !r.p.Repeat || !strings.HasPrefix(r.p.Text, "[STILL FIRING critical] site-a: No pool is up") {
		t.Fatalf("repeat %+v", r.p)
	}
	src.set(Snapshot{Pools: []Pool{{Name: "main", Up: true}}})
	clk.Advance(tick)
	e.check(ctx)
	if r = rcv.next(t); r.p.Status != statusResolved || r.p.Text != "[RESOLVED] site-a: No pool is up: miners get no work (fired for 1h0m15s)" ||
		!r.p.Alert.Ended.Equal(t0.Add(61*time.Minute+15*time.Second)) {
		t.Fatalf("resolved %+v", r.p)
	}
	if len(e.Latest().Firing) != 0 {
		t.Fatalf("still active %+v", e.Latest().Firing)
	}
	clk.Advance(2 * time.Hour)
	e.check(ctx)
	rcv.none(t)
}

// TestEngineMinSeverity: a webhook gets only alerts at or above its min_severity.
func TestEngineMinSeverity(t *testing.T) {
	clk := clock.NewManual(t0)
	all, crit := newReceiver(t, nil), newReceiver(t, nil)
	cfg := DefaultConfig()
	cfg.RepeatInterval = 0 // eventually advances the clock freely
	cfg.Webhooks = []WebhookConfig{{URL: all.URL}, {URL: crit.URL, MinSeverity: SeverityCritical}}
	src := &settable{}
	src.set(Snapshot{Meters: []Meter{{Name: "ai", Role: "ai_load", Stale: true}}})
	startEngine(t, cfg, src, clk, zerolog.Nop())
	if r := all.next(t); r.p.Alert.Name != NameMeterStale || r.p.Alert.Labels["meter"] != "ai" {
		t.Fatalf("warning %+v", r.p)
	}
	src.set(Snapshot{Meters: []Meter{{Name: "ai", Role: "ai_load", Stale: true}, {Name: "grid", Role: "site_import", Site: true, Stale: true}}})
	var r received
	eventually(t, clk, cfg.CheckInterval.D(), "the critical alert", func() bool {
		select {
		case r = <-crit.got:
			return true
		default:
			return false
		}
	})
	if r.p.Alert.Labels["meter"] != "grid" || r.p.Alert.Severity != SeverityCritical {
		t.Fatalf("critical %+v", r.p)
	}
	if r := all.next(t); r.p.Alert.Labels["meter"] != "grid" {
		t.Fatalf("warning webhook missed the critical alert: %+v", r.p)
	}
	crit.none(t)
}

// TestEngineHangingReceiverDoesNotBlock: a receiver that accepts and never answers holds only
// its own webhook. Checks go on, Active follows the conditions, the other webhook gets every
// notification in order, the stuck webhook's queue drops its oldest and counts the drops,
// and Run returns at once when its context ends.
func TestEngineHangingReceiverDoesNotBlock(t *testing.T) {
	clk := clock.NewManual(t0)
	release := make(chan struct{})
	var hung atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	ok := newReceiver(t, nil)
	cfg := DefaultConfig()
	cfg.Queue = 2
	cfg.RepeatInterval = 0 // eventually advances the clock freely
	cfg.Webhooks = []WebhookConfig{{Name: "stuck", URL: hang.URL, Timeout: Duration(5 * time.Minute)}, {Name: "ok", URL: ok.URL}}
	src := &settable{}
	e, cancel, done := startEngine(t, cfg, src, clk, zerolog.Nop())
	tick := cfg.CheckInterval.D()
	stale := Snapshot{Store: &Store{ProbeErr: errDisk}}
	for i := 0; i < 6; i++ {
		src.set(stale)
		eventually(t, clk, tick, "store_failing to fire", func() bool { return len(e.Latest().Firing) == 1 })
		if r := ok.next(t); r.p.Status != statusFiring {
			t.Fatalf("round %d: %+v", i, r.p)
		}
		if i == 0 {
			eventually(t, clk, 0, "the stuck webhook's first request", func() bool { return hung.Load() == 1 })
		}
		src.set(Snapshot{Store: &Store{}})
		eventually(t, clk, tick, "store_failing to resolve", func() bool { return len(e.Latest().Firing) == 0 })
		if r := ok.next(t); r.p.Status != statusResolved {
			t.Fatalf("round %d: %+v", i, r.p)
		}
	}
	if hung.Load() != 1 {
		t.Fatalf("the stuck receiver got %d requests, want 1 in flight", hung.Load())
	}
	// 12 notifications: one in flight, two queued, nine dropped.
	if d := e.Drops()[dropQueueFull]; d != 9 {
		t.Fatalf("drops %d, want 9", d)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return with a request in flight")
	}
}

var errDisk = &net.OpError{Op: "write", Err: io.ErrShortWrite}

// TestWebhookRetriesAndGivesUp: 503 and 429 are retried with back-off on the clock; 400 and a
// redirect are not (a redirect would carry the headers elsewhere); an answer of many
// megabytes is read only in part; a closed port is tried attempts times. No log line holds
// the webhook URL.
func TestWebhookRetriesAndGivesUp(t *testing.T) {
	var logBuf syncBuffer
	log := zerolog.New(&logBuf)
	alert := notification{Status: statusFiring, Instance: "i", Alert: Alert{Name: NameNoPoolUp, Severity: SeverityCritical}}
	deliver := func(t *testing.T, w *webhook, clk *clock.Manual) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			w.deliver(context.Background(), &alert)
			close(done)
		}()
		eventually(t, clk, time.Second, "delivery to end", func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		})
	}

	t.Run("5xx then ok", func(t *testing.T) {
		clk := clock.NewManual(t0)
		rcv := newReceiver(t, func(n int64, w http.ResponseWriter) {
			switch n {
			case 1:
				w.WriteHeader(http.StatusServiceUnavailable)
			case 2:
				w.WriteHeader(http.StatusTooManyRequests)
			}
		})
		deliver(t, newWebhook(WebhookConfig{Name: "w", URL: rcv.URL + "/XSECRETX"}.withDefaults(0), 4, clk, log), clk)
		if rcv.hits.Load() != 3 {
			t.Fatalf("%d requests, want 3", rcv.hits.Load())
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		clk := clock.NewManual(t0)
		rcv := newReceiver(t, func(_ int64, w http.ResponseWriter) { http.Error(w, "no such channel", http.StatusNotFound) })
		deliver(t, newWebhook(WebhookConfig{Name: "w", URL: rcv.URL + "/XSECRETX"}.withDefaults(0), 4, clk, log), clk)
		if rcv.hits.Load() != 1 || !strings.Contains(logBuf.String(), `receiver answered 404: \"no such channel\\n\"`) {
			t.Fatalf("%d requests; log %s", rcv.hits.Load(), logBuf.String())
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		clk := clock.NewManual(t0)
		elsewhere := newReceiver(t, nil)
		rcv := newReceiver(t, func(_ int64, w http.ResponseWriter) {
			w.Header().Set("Location", elsewhere.URL)
			w.WriteHeader(http.StatusTemporaryRedirect)
		})
		deliver(t, newWebhook(WebhookConfig{Name: "w", URL: rcv.URL + "/XSECRETX", Headers: map[string]string{"X-Key": "k"}}.withDefaults(0), 4, clk, log), clk)
		if rcv.hits.Load() != 1 || elsewhere.hits.Load() != 0 {
			t.Fatalf("%d requests, %d followed", rcv.hits.Load(), elsewhere.hits.Load())
		}
	})
	t.Run("huge answer", func(t *testing.T) {
		clk := clock.NewManual(t0)
		var wrote atomic.Int64
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for i := 0; i < 1600; i++ { // 100 MiB unless the client stops reading
				if _, err := w.Write(chunk); err != nil {
					return
				}
				wrote.Add(int64(len(chunk)))
			}
		}))
		defer big.Close()
		deliver(t, newWebhook(WebhookConfig{Name: "w", URL: big.URL + "/XSECRETX", Attempts: 2}.withDefaults(0), 4, clk, log), clk)
		if wrote.Load() > 50<<20 {
			t.Fatalf("the client read %d bytes of the answer", wrote.Load())
		}
	})
	t.Run("closed port", func(t *testing.T) {
		clk := clock.NewManual(t0)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		deliver(t, newWebhook(WebhookConfig{Name: "w", URL: "http://" + addr + "/XSECRETX", Attempts: 3}.withDefaults(0), 4, clk, log), clk)
		if s := logBuf.String(); !strings.Contains(s, `"attempts":3`) || !strings.Contains(s, "connection refused") {
			t.Fatalf("log %s", s)
		}
	})
	if strings.Contains(logBuf.String(), "XSECRETX") {
		t.Fatalf("a log line holds the webhook URL: %s", logBuf.String())
	}
}

// syncBuffer is a log sink safe for the sender's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
