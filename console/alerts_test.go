package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAlertsEndpoint: GET /api/v1/alerts needs a viewer like every read; a backend without an
// alert engine answers configured false with an empty list (the wiring's engine is tested in
// internal/app).
func TestAlertsEndpoint(t *testing.T) {
	s := newServer(t, authConfig(), newFleetBackend(1, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	get := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/alerts", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d %s", code, body)
	}
	if code, body := get("hg_wrong_token"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d %s", code, body)
	}
	if code, body := get(viewerToken); code != http.StatusOK || body != `{"configured":false,"alerts":[]}` {
		t.Fatalf("viewer: %d %s", code, body)
	}
}
