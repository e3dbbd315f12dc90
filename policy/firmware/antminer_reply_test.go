package firmware_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashgate/hashgate/policy/firmware"
)

// antminerTarget points at a loopback server's host:port.
func antminerTarget(srv *httptest.Server) firmware.Target {
	return firmware.Target{ID: "am-1", Addr: strings.TrimPrefix(srv.URL, "http://")}
}

// A CGI that fails before any digest challenge (broken, busy, missing, or
// redirecting to a login page) is an error naming the status, never a
// reboot or a read that happened; a redirect is not followed.
func TestAntminerErrorReplyIsNotSuccess(t *testing.T) {
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer elsewhere.Close()
	for _, code := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusNotFound, http.StatusFound, http.StatusMultipleChoices} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if code == http.StatusFound {
					w.Header().Set("Location", elsewhere.URL+"/login.html")
				}
				w.WriteHeader(code)
			}))
			defer srv.Close()
			drv := newDriver(t, firmware.Antminer, testConfig(firmware.SystemClock{}))
			ctx := context.Background()
			err := drv.Reboot(ctx, antminerTarget(srv))
			var ce *firmware.CommandError
			if !errors.As(err, &ce) || ce.Code != code || ce.Command != "reboot" {
				t.Fatalf("reboot.cgi answered %d: want a CommandError naming it, got %v", code, err)
			}
			if firmware.Retriable(err) {
				t.Fatalf("a refused reboot counted as retriable: %v", err)
			}
			if _, err := drv.Status(ctx, antminerTarget(srv)); !errors.As(err, &ce) || ce.Code != code {
				t.Fatalf("get_miner_conf.cgi answered %d: want a CommandError, got %v", code, err)
			}
			if n := hits.Load(); n != 2 {
				t.Fatalf("%d requests for one reboot and one status", n)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("a redirect was followed %d times", n)
	}
}

// A 403 before the challenge is refused credentials, as after it.
func TestAntminerForbiddenIsAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	drv := newDriver(t, firmware.Antminer, testConfig(firmware.SystemClock{}))
	if err := drv.Reboot(context.Background(), antminerTarget(srv)); !errors.Is(err, firmware.ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
}
