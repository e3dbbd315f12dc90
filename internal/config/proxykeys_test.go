package config

import (
	"strings"
	"testing"
	"time"
)

// TestProxyTimeoutKeys: [proxy] worker_auth_timeout and submit_timeout reach the proxy's
// Config, and a bad one is named.
func TestProxyTimeoutKeys(t *testing.T) {
	base := minimalFile + `[proxy]
`
	f, err := Parse(base + "worker_auth_timeout = \"750ms\"\nsubmit_timeout = \"12s\"\n")
	if err != nil {
		t.Fatal(err)
	}
	pc := f.ProxyConfig()
	if pc.WorkerAuthTimeout.D() != 750*time.Millisecond || pc.SubmitTimeout.D() != 12*time.Second {
		t.Fatalf("got worker_auth_timeout %v, submit_timeout %v", pc.WorkerAuthTimeout, pc.SubmitTimeout)
	}
	if f, err = Parse(base); err != nil || f.ProxyConfig().SubmitTimeout.D() != 30*time.Second {
		t.Fatalf("default submit_timeout: %v %v", f.ProxyConfig().SubmitTimeout, err)
	}
	if _, err := Parse(base + "submit_timeout = \"0s\"\n"); err == nil || !strings.Contains(err.Error(), "submit_timeout") {
		t.Fatalf("zero submit_timeout: %v", err)
	}
}
