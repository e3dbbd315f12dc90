package console

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
)

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("console: invalid config")

// ConfigError names the key that is wrong.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string { return "console." + e.Key + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Duration is a config duration ("12h").
type Duration = tomltime.Duration

// Role is what an operator or token may do.
type Role string

// Roles. An admin can do everything a viewer can.
const (
	RoleViewer Role = "viewer" // read everything
	RoleAdmin  Role = "admin"  // read and control
)

func (r Role) valid() bool { return r == RoleViewer || r == RoleAdmin }

// can reports whether r includes need.
func (r Role) can(need Role) bool { return r == RoleAdmin || (r == RoleViewer && need == RoleViewer) }

// UserConfig is one [[console.user]]: an operator who logs in with a password.
type UserConfig struct {
	Name string `toml:"name"`
	// PasswordHash is the PHC string made by `hashgate hash-password` (argon2id).
	PasswordHash string `toml:"password_hash"`
	Role         Role   `toml:"role"`
}

// TokenConfig is one [[console.token]]: an API client (Prometheus, scripts) that sends
// "Authorization: Bearer <token>".
type TokenConfig struct {
	Name string `toml:"name"`
	// TokenHash is "sha256:<hex>" of the token, as printed by `hashgate hash-password -token`.
	TokenHash string `toml:"token_hash"`
	Role      Role   `toml:"role"`
}

// Config is the [console] section.
type Config struct {
	// Address is host:port to listen on. Anything but loopback needs a user or token.
	Address string `toml:"address"`
	// TLSCert and TLSKey are PEM files; both set serves HTTPS (and marks cookies Secure).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Users and Tokens are who may use the console. With neither, the console is read-only
	// for anyone who can reach it, which Validate allows on loopback only.
	Users  []UserConfig  `toml:"user"`
	Tokens []TokenConfig `toml:"token"`
	// SessionTTL is how long a login lasts.
	SessionTTL Duration `toml:"session_ttl"`
	// AllowedOrigins lists extra origins (scheme://host[:port]) a browser may send
	// state-changing requests and websocket upgrades from; the console's own origin is
	// always allowed.
	AllowedOrigins []string `toml:"allowed_origins"`
	// PublicMetrics serves /metrics without authentication (for a scraper on a trusted
	// network). Otherwise /metrics needs a viewer (a bearer token, typically).
	PublicMetrics bool `toml:"public_metrics"`
	// MetricsWorkerCap is how many workers get their own series in /metrics; zero disables
	// per-worker series. Workers beyond the cap are left out (sorted by name) and counted in
	// hashgate_console_metrics_workers_omitted.
	MetricsWorkerCap int `toml:"metrics_worker_cap"`
	// UpdateInterval is how often live updates are computed and sent: at most one delta per
	// interval reaches a client.
	UpdateInterval Duration `toml:"update_interval"`
	// ClientQueue is each websocket client's send queue in messages; a client whose queue is
	// full is evicted (drop reason slow_console_client) and reconnects for a fresh snapshot.
	ClientQueue int `toml:"client_queue"`
	// MaxClients caps concurrent websocket clients; more are refused with 503.
	MaxClients int `toml:"max_clients"`
	// LoginsPerMinute is how many login attempts one client IPv4 address or IPv6 /64 may
	// make per minute (the burst is the same number).
	LoginsPerMinute int `toml:"logins_per_minute"`
	// ReadTimeout is how long a client may take to send one request, headers and body; a
	// slower one is disconnected, so a trickling client cannot hold connections open.
	// Websocket connections are exempt after the upgrade (they have their own ping deadline).
	ReadTimeout Duration `toml:"read_timeout"`
	// AllowedHosts lists extra host names (without port) the console answers to when it runs
	// without users or tokens. Without accounts it otherwise answers only to localhost and
	// loopback addresses: a web page whose name resolves to 127.0.0.1 (DNS rebinding) must
	// not be able to read the console. With accounts configured any Host is served.
	AllowedHosts []string `toml:"allowed_hosts"`
}

// Limits enforced by Validate.
const (
	minUpdateInterval = 100 * time.Millisecond
	maxMetricsWorkers = 10000
	minReadTimeout    = time.Second
	maxReadTimeout    = 10 * time.Minute
)

// DefaultConfig returns the defaults: loopback, no accounts (read-only), 12 h sessions.
func DefaultConfig() Config {
	return Config{
		Address:         "127.0.0.1:8080",
		SessionTTL:      Duration(12 * time.Hour),
		UpdateInterval:  Duration(time.Second),
		ClientQueue:     32,
		MaxClients:      200,
		LoginsPerMinute: 10,
		ReadTimeout:     Duration(20 * time.Second),
	}
}

// TLS reports whether the console serves HTTPS.
func (c *Config) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// AuthConfigured reports whether any user or token is configured.
func (c *Config) AuthConfigured() bool { return len(c.Users) > 0 || len(c.Tokens) > 0 }

// Validate checks the config. Binding to a non-loopback address with no user or token is an
// error: the console would be readable by the whole network.
func (c *Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil {
		return cfgErr("address", "want host:port: %v", err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return cfgErr("address", "bad port %q", port)
	}
	if !c.AuthConfigured() && !isLoopback(host) {
		return cfgErr("address", "%q is not a loopback address and no [[console.user]] or [[console.token]] is configured: "+
			"refusing to expose the console without authentication (add a user with `hashgate hash-password`, or bind to 127.0.0.1)", c.Address)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return cfgErr("tls_cert", "tls_cert and tls_key must be set together")
	}
	seen := make(map[string]bool)
	for i, u := range c.Users {
		key := func(k string) string { return fmt.Sprintf("user[%d].%s", i, k) }
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n:"):
			return cfgErr(key("name"), "must be set, without spaces or colons")
		case seen[u.Name]:
			return cfgErr(key("name"), "duplicate name %q", u.Name)
		case !u.Role.valid():
			return cfgErr(key("role"), "must be admin or viewer, got %q", u.Role)
		}
		if _, err := parsePasswordHash(u.PasswordHash); err != nil {
			return cfgErr(key("password_hash"), "%v", err)
		}
		seen[u.Name] = true
	}
	seen = make(map[string]bool)
	for i, t := range c.Tokens {
		key := func(k string) string { return fmt.Sprintf("token[%d].%s", i, k) }
		switch {
		case t.Name == "" || strings.ContainsAny(t.Name, " \t\r\n:"):
			return cfgErr(key("name"), "must be set, without spaces or colons")
		case seen[t.Name]:
			return cfgErr(key("name"), "duplicate name %q", t.Name)
		case !t.Role.valid():
			return cfgErr(key("role"), "must be admin or viewer, got %q", t.Role)
		}
		if _, err := parseTokenHash(t.TokenHash); err != nil {
			return cfgErr(key("token_hash"), "%v", err)
		}
		seen[t.Name] = true
	}
	for i, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return cfgErr(fmt.Sprintf("allowed_origins[%d]", i), "want scheme://host[:port], got %q", o)
		}
	}
	for i, h := range c.AllowedHosts {
		if !validHostName(h) {
			return cfgErr(fmt.Sprintf("allowed_hosts[%d]", i), "want a host name or IP address without scheme or port, got %q", h)
		}
	}
	switch {
	case c.SessionTTL.D() < time.Minute:
		return cfgErr("session_ttl", "must be at least 1m")
	case c.UpdateInterval.D() < minUpdateInterval:
		return cfgErr("update_interval", "must be at least %v", minUpdateInterval)
	case c.ClientQueue < 2:
		return cfgErr("client_queue", "must be at least 2")
	case c.MaxClients < 1:
		return cfgErr("max_clients", "must be at least 1")
	case c.LoginsPerMinute < 1:
		return cfgErr("logins_per_minute", "must be at least 1")
	case c.MetricsWorkerCap < 0 || c.MetricsWorkerCap > maxMetricsWorkers:
		return cfgErr("metrics_worker_cap", "must be within 0..%d", maxMetricsWorkers)
	case c.ReadTimeout.D() < minReadTimeout || c.ReadTimeout.D() > maxReadTimeout:
		return cfgErr("read_timeout", "must be within %v..%v", minReadTimeout, maxReadTimeout)
	}
	return nil
}

// isLoopback reports whether host (from host:port) only listens on loopback. An empty host
// means every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validHostName accepts an IP address or a DNS name (letters, digits, hyphens, dots).
func validHostName(h string) bool {
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasPrefix(h, "-") {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
