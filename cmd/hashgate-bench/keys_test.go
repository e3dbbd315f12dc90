package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/noise"
)

// The run's keys survive the trip to the proxy child (JSON on its stdin) and verify there:
// the certificate is the authority's, for the static key, and valid now.
func TestV2KeysReachTheChild(t *testing.T) {
	now := time.Now()
	authority, kf, err := newV2Keys(now)
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(childConfig{PoolAddr: "127.0.0.1:1", ServerKey: kf, ListenV2: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var cc childConfig
	if err := json.Unmarshal(line, &cc); err != nil {
		t.Fatal(err)
	}
	static, cert, signer, err := cc.ServerKey.Server()
	if err != nil {
		t.Fatal(err)
	}
	if signer != authority {
		t.Fatal("certificate names another authority")
	}
	if err := cert.Verify(authority, static.XOnly(), now, 0); err != nil {
		t.Fatalf("certificate: %v", err)
	}
	if err := cert.Verify(authority, static.XOnly(), now.Add(v2Validity), 0); err == nil {
		t.Fatal("certificate valid past its window")
	}
	other, _, err := newV2Keys(now)
	if err != nil {
		t.Fatal(err)
	}
	if other == authority {
		t.Fatal("two runs share an authority key")
	}
	if err := cert.Verify(other, static.XOnly(), now, 0); err == nil {
		t.Fatal("certificate verified under another run's authority")
	}
	var zero noise.AuthorityPublicKey
	if authority == zero {
		t.Fatal("zero authority key")
	}
}

func TestProtocolFlag(t *testing.T) {
	for _, c := range []struct {
		protocol string
		proxy    string
		v2       int
		ok       bool
	}{
		{protoSV1, "", 0, true},
		{protoSV2, "", 10, true},
		{protoMixed, "", 5, true},
		{"sv3", "", 0, false},
		{protoSV2, "127.0.0.1:3333", 10, false},
		{protoSV1, "127.0.0.1:3333", 0, true},
	} {
		cfg := defaultBenchConfig()
		cfg.Miners, cfg.Protocol, cfg.Proxy = 10, c.protocol, c.proxy
		if err := cfg.validate(); (err == nil) != c.ok {
			t.Errorf("%s with proxy %q: validate = %v", c.protocol, c.proxy, err)
		}
		if c.ok && cfg.v2Miners() != c.v2 {
			t.Errorf("%s: %d SV2 miners, want %d", c.protocol, cfg.v2Miners(), c.v2)
		}
	}
}
