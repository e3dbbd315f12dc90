package meter_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/meter"
)

func TestHTTPPoll(t *testing.T) {
	var body atomic.Value
	var status atomic.Int32
	body.Store(`{"id":0,"total_act_power":2500}`)
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/rpc/EM.GetStatus" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		w.WriteHeader(int(status.Load()))
		_, _ = io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	src, err := meter.New(meter.Config{Name: "shelly", Role: meter.RoleAILoad, Source: meter.KindHTTP,
		URL: srv.URL + "/rpc/EM.GetStatus?id=0", Format: meter.FormatShelly, Interval: meter.Duration(meter.MinInterval)}, zerologNop())
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, src)
	waitFor(t, out, "2.5 kW", good(2.5))
	body.Store(`{"id":0,"total_act_power":`)
	waitFor(t, out, "malformed", quality(meter.QualityInvalid, meter.ErrPayload))
	body.Store(strings.Repeat(" ", meter.MaxPayload+10) + "1")
	waitFor(t, out, "oversized", quality(meter.QualityInvalid, meter.ErrPayload))
	status.Store(http.StatusInternalServerError)
	body.Store(`{"id":0,"total_act_power":1}`)
	waitFor(t, out, "HTTP 500", quality(meter.QualityUnavailable, meter.ErrUnavailable))
	status.Store(http.StatusOK)
	waitFor(t, out, "recovered", good(0.001))
}

func TestHTTPPollJSONPathDown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"site":{"import_kw":"-3.5"}}`)
	}))
	src, err := meter.New(meter.Config{Name: "ems", Source: meter.KindHTTP, URL: srv.URL, JSONPath: "site.import_kw",
		Unit: "kW", Interval: meter.Duration(meter.MinInterval)}, zerologNop())
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, src)
	waitFor(t, out, "-3.5 kW", good(-3.5))
	srv.Close()
	waitFor(t, out, "server gone", quality(meter.QualityUnavailable, meter.ErrUnavailable))
}

const token = "0123456789abcdef-push-token"

func pushMeter(t *testing.T, clk meter.Clock) *meter.PushSource {
	t.Helper()
	src, err := meter.New(meter.Config{Name: "ems", Source: meter.KindHTTP, PushToken: token, Unit: "kW"}, zerologNop(), meter.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ps, ok := src.(*meter.PushSource)
	if !ok {
		t.Fatalf("push meter is %T", src)
	}
	return ps
}

func push(t *testing.T, url, auth, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPPush(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := meter.NewManualClock(now)
	ps := pushMeter(t, clk)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/meters/ems/push", ps)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/api/v1/meters/ems/push"
	bearer := "Bearer " + token

	// Not running yet: refused, never silently lost.
	if code, _ := push(t, url, bearer, "application/json", `{"value":1}`); code != http.StatusServiceUnavailable {
		t.Fatalf("before Run: %d", code)
	}
	out := run(t, ps)

	for _, tc := range []struct {
		name, auth, ctype, body string
		code                    int
	}{
		{"no token", "", "application/json", `{"value":1}`, http.StatusUnauthorized},
		{"wrong token", "Bearer " + strings.Repeat("x", len(token)), "", `{"value":1}`, http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:20], "", `{"value":1}`, http.StatusUnauthorized},
		{"basic auth", "Basic " + token, "", `{"value":1}`, http.StatusUnauthorized},
		{"not json", bearer, "text/plain", `1`, http.StatusUnsupportedMediaType},
		{"malformed", bearer, "application/json", `{"value":`, http.StatusBadRequest},
		{"unknown field", bearer, "application/json", `{"value":1,"watts":2}`, http.StatusBadRequest},
		{"no value", bearer, "application/json", `{"at":"2026-03-04T05:06:00Z"}`, http.StatusBadRequest},
		{"future", bearer, "application/json", `{"value":1,"at":"2026-03-04T06:00:00Z"}`, http.StatusBadRequest},
		{"oversized", bearer, "application/json", `{"value":1,"at":"` + strings.Repeat("9", meter.MaxPushBody) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		code, body := push(t, url, tc.auth, tc.ctype, tc.body)
		var e struct {
			Error string `json:"error"`
		}
		if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s: got %d %q, want %d with a JSON error", tc.name, code, body, tc.code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", bearer)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %v %v", resp, err)
	}

	// 503 means "retry": Run may not have started yet.
	rejected := 10
	for {
		code, body := push(t, url, bearer, "application/json; charset=utf-8", `{"value":-7.25,"at":"2026-03-04T05:06:00Z"}`)
		if code == http.StatusNoContent {
			break
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("good push: %d %s", code, body)
		}
		rejected++
	}
	r := <-out
	if !r.OK() || r.Value != -7.25 || !r.At.Equal(now.Add(-7*time.Second)) || r.Meter != "ems" {
		t.Fatalf("reading %+v", r)
	}
	if code, _ := push(t, url, bearer, "", `{"value":3}`); code != http.StatusNoContent {
		t.Fatalf("push without at: %d", code)
	}
	if r := <-out; r.Value != 3 || !r.At.Equal(now) {
		t.Fatalf("reading %+v, want receive time", r)
	}
	if st := ps.Stats(); st.PushRejected != uint64(rejected+2) || st.Good != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHTTPPushConsumerFull(t *testing.T) {
	ps := pushMeter(t, meter.SystemClock{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan meter.Reading) // never read: Run blocks nothing, but forwards nowhere
	done := make(chan struct{})
	go func() { _ = ps.Run(ctx, out); close(done) }()
	srv := httptest.NewServer(ps)
	defer srv.Close()
	// Run drops what the consumer cannot take, so the push queue drains; what is counted is
	// that every accepted push was either delivered or dropped, never lost silently.
	var accepted int
	for range 3 * meter.PushQueue {
		for {
			code, _ := push(t, srv.URL, "Bearer "+token, "", `{"value":1}`)
			if code == http.StatusNoContent {
				accepted++
				break
			}
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d", code)
			}
		}
	}
	cancel()
	<-done
	st := ps.Stats()
	if uint64(accepted) != st.DroppedFull+st.Good+uint64(len(out)) || st.DroppedFull == 0 {
		t.Fatalf("accepted %d, stats %+v", accepted, st)
	}
}
