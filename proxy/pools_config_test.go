package proxy

import (
	"strings"
	"testing"
	"time"
)

// TestPoolsConfigKeys: the new timeouts have working defaults, and a bad value is refused at
// start naming the key as written in the config file.
func TestPoolsConfigKeys(t *testing.T) {
	d := DefaultConfig()
	if d.WorkerAuthTimeout.D() != 5*time.Second || d.SubmitTimeout.D() != 30*time.Second {
		t.Fatalf("defaults: worker_auth_timeout %v, submit_timeout %v", d.WorkerAuthTimeout, d.SubmitTimeout)
	}
	for key, mut := range map[string]func(*Config){
		"worker_auth_timeout": func(c *Config) { c.WorkerAuthTimeout = 0 },
		"submit_timeout":      func(c *Config) { c.SubmitTimeout = Duration(-time.Second) },
	} {
		c := testConfig("127.0.0.1:1")
		mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s: got %v", key, err)
		}
	}
	c := testConfig("127.0.0.1:1")
	c.SubmitTimeout, c.WorkerAuthTimeout = Duration(40*time.Millisecond), Duration(time.Minute)
	if got := sweepEvery(&c); got != 10*time.Millisecond {
		t.Fatalf("sweep every %v for a 40ms submit_timeout", got)
	}
	c.SubmitTimeout = Duration(time.Minute)
	if got := sweepEvery(&c); got != time.Second {
		t.Fatalf("sweep every %v for minute-long timeouts", got)
	}
}
