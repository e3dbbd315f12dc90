package console

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Address != "127.0.0.1:8080" {
		t.Fatalf("default address %q", cfg.Address)
	}
}

func TestValidateRefusesOpenConsole(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080", "[::]:8080", "example.org:80"} {
		cfg := DefaultConfig()
		cfg.Address = addr
		err := cfg.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "without authentication") {
			t.Errorf("%s without auth: %v", addr, err)
		}
		cfg.Tokens = []TokenConfig{{Name: "prom", TokenHash: HashToken("x"), Role: RoleViewer}}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:9000", "localhost:8080", "127.0.0.5:1"} {
		cfg := DefaultConfig()
		cfg.Address = addr
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestValidateRejectsBadKeys(t *testing.T) {
	hash, _ := hashes()
	for _, tc := range []struct {
		key string
		mut func(*Config)
	}{
		{"address", func(c *Config) { c.Address = "8080" }},
		{"tls_cert", func(c *Config) { c.TLSCert = "cert.pem" }},
		{"user[0].password_hash", func(c *Config) { c.Users = []UserConfig{{Name: "a", PasswordHash: "plaintext", Role: RoleAdmin}} }},
		{"user[0].role", func(c *Config) { c.Users = []UserConfig{{Name: "a", PasswordHash: hash, Role: "root"}} }},
		{"user[1].name", func(c *Config) {
			c.Users = []UserConfig{{Name: "a", PasswordHash: hash, Role: RoleAdmin}, {Name: "a", PasswordHash: hash, Role: RoleViewer}}
		}},
		{"user[0].password_hash", func(c *Config) {
			c.Users = []UserConfig{{Name: "a", PasswordHash: "$argon2id$v=19$m=99999999,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", Role: RoleAdmin}}
		}},
		{"token[0].token_hash", func(c *Config) { c.Tokens = []TokenConfig{{Name: "t", TokenHash: "md5:abc", Role: RoleViewer}} }},
		{"allowed_origins[0]", func(c *Config) { c.AllowedOrigins = []string{"ops.example"} }},
		{"session_ttl", func(c *Config) { c.SessionTTL = 0 }},
		{"update_interval", func(c *Config) { c.UpdateInterval = 1 }},
		{"client_queue", func(c *Config) { c.ClientQueue = 1 }},
		{"metrics_worker_cap", func(c *Config) { c.MetricsWorkerCap = -1 }},
	} {
		cfg := DefaultConfig()
		tc.mut(&cfg)
		err := cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("want an error on %s, got %v", tc.key, err)
		}
	}
}

func TestConfigFromTOML(t *testing.T) {
	hash, _ := hashes()
	text := `
address = "0.0.0.0:8443"
tls_cert = "/etc/hashgate/console.crt"
tls_key = "/etc/hashgate/console.key"
session_ttl = "8h"
allowed_origins = ["https://ops.example"]
metrics_worker_cap = 500

[[user]]
name = "alice"
password_hash = "` + hash + `"
role = "admin"

[[token]]
name = "prometheus"
token_hash = "` + HashToken("secret") + `"
role = "viewer"
`
	cfg := DefaultConfig()
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("undecoded keys %v", u)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS() || cfg.SessionTTL.D().Hours() != 8 || cfg.Users[0].Role != RoleAdmin || cfg.MetricsWorkerCap != 500 || cfg.UpdateInterval.D() == 0 {
		t.Fatalf("decoded %+v", cfg)
	}
}

func TestPasswordHashing(t *testing.T) {
	h, _ := hashes()
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q", h)
	}
	if !VerifyPassword(h, adminPassword) || VerifyPassword(h, adminPassword+"x") || VerifyPassword("garbage", adminPassword) {
		t.Fatal("verification is wrong")
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("empty password hashed")
	}
	tok, th, err := NewToken()
	if err != nil || !strings.HasPrefix(tok, "hg_") || th != HashToken(tok) {
		t.Fatalf("token %q %q %v", tok, th, err)
	}
	if _, err := parseTokenHash(th); err != nil {
		t.Fatal(err)
	}
}
