package proxy

import (
	"errors"
	"strings"
	"testing"
)

// TestEndpointRejectsUserinfo: a pool URL carrying user:password@ is refused at load and by a
// run-time edit, with an error that names the key and the user/password keys to use instead
// and never repeats the password (it would reach the audit log, logs and API pool rows).
func TestEndpointRejectsUserinfo(t *testing.T) {
	for _, u := range []string{
		"stratum+tcp://acct:s3cret@pool.example.com:3333",
		"stratum+ssl://acct:s3cret@pool.example.com:443",
		"stratum+tcp://s3cret@pool.example.com:3333",
		"stratum2+tcp://acct:s3cret@pool.example.com:3336/9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCnan",
		"stratum+tcp://acct:s3cret@pool example.com:3333", // also unparsable: still no password in the error
	} {
		_, err := ParseEndpoint(u)
		if err == nil {
			t.Errorf("%s: accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error repeats the password: %v", u, err)
		}
	}
	if _, err := ParseEndpoint("stratum+tcp://pool.example.com:3333"); err != nil {
		t.Fatalf("plain URL: %v", err)
	}

	cfg := testConfig("127.0.0.1:1")
	cfg.Pools = append(cfg.Pools, PoolConfig{Name: "b", URL: "stratum+tcp://acct:s3cret@127.0.0.1:2", User: "acct"})
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "pool[1].url") || !strings.Contains(err.Error(), "password") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("config with userinfo: %v", err)
	}

	err = PoolConfig{Name: "b", URL: "stratum+tcp://acct:s3cret@127.0.0.1:2", User: "acct"}.Validate()
	if !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), "pool.url") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("pool edit with userinfo: %v", err)
	}
}

// TestEndpointUserinfoEditRefused: a running proxy refuses a console edit that puts a password
// in a pool URL and keeps the pools it had; the refusal does not show the password.
func TestEndpointUserinfoEditRefused(t *testing.T) {
	_, addrA := startPool(t, nil)
	px, _ := startProxy(t, testConfig(addrA), Options{})
	set := px.PoolConfigs()
	set = append(set, PoolConfig{Name: "b", URL: "stratum+tcp://acct:s3cret@" + addrA, User: "acct"})
	err := px.SetPools(set)
	if !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), "pool[1].url") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("SetPools: %v", err)
	}
	for _, st := range px.Pools() {
		if st.Name == "b" {
			t.Fatalf("refused pool is running: %+v", st)
		}
	}
}
