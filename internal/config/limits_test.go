package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/proxy"
)

// TestExampleLimitsAreTheDefaults: the example's [limits] says what hashgate does unset, and
// reaches the proxy's Config.
func TestExampleLimitsAreTheDefaults(t *testing.T) {
	f, err := Load(filepath.Join("..", "..", "hashgate.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Limits != proxy.DefaultLimitsConfig() || f.ProxyConfig().Limits != f.Limits || Default().Limits != f.Limits {
		t.Fatalf("example [limits] %+v, defaults %+v", f.Limits, proxy.DefaultLimitsConfig())
	}
}

func TestLimitsErrorsNameTheKey(t *testing.T) {
	base := minimalFile
	for text, want := range map[string]string{
		base + "[limits]\nhandshake_slots_per_ip = 0\n": "limits.handshake_slots_per_ip",
		base + "[limits]\nsetup_timeout = \"10ms\"\n":   "limits.setup_timeout",
		base + "[limits]\nmax_conections = 5\n":         "limits.max_conections",
		strings.Replace(base, `address = "0.0.0.0:3333"`, "address = \"0.0.0.0:3333\"\ntls_cert_file = \"c.pem\"", 1): "listener[0].tls_key_file",
	} {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
	f, err := Parse(base + "[limits]\nmax_connections = 7\nmax_connections_per_ip = 3\nfd_reserve = 100\n")
	if err != nil {
		t.Fatal(err)
	}
	if l := f.ProxyConfig().Limits; l.MaxConnections != 7 || l.MaxConnectionsPerIP != 3 || l.FDReserve != 100 || l.SetupTimeout != proxy.DefaultLimitsConfig().SetupTimeout {
		t.Fatalf("limits %+v", l)
	}
}
