package cluster

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
)

// Duration is a TOML duration ("3s").
type Duration = tomltime.Duration

// Config is the [cluster] table. A file without it runs one instance with no NATS at all.
type Config struct {
	// Site names the site: the NATS subject prefix (hashgate.<site>) and the lease bucket.
	// Every instance sharing one import limit has the same site.
	Site string `toml:"site"`
	// Instance names this instance within the site; empty takes the hostname.
	Instance string `toml:"instance"`
	// NATSURL joins an external NATS cluster (comma-separated server URLs). Exactly one of
	// nats_url and embed is set.
	NATSURL string `toml:"nats_url"`
	// Embed starts an in-process NATS server with JetStream (a small site), listening on
	// EmbedListen and storing in EmbedStoreDir; EmbedRoutes joins other embedded servers
	// into one NATS cluster (nats-route://host:port, comma-separated).
	Embed         bool   `toml:"embed"`
	EmbedListen   string `toml:"embed_listen"`
	EmbedStoreDir string `toml:"embed_store_dir"`
	EmbedRoutes   string `toml:"embed_routes"`
	// EmbedClusterListen is where an embedded server takes routes from the others (needed
	// with embed_routes).
	EmbedClusterListen string `toml:"embed_cluster_listen"`
	// LeaseTTL is how long the leader's lease lives at the server without a renewal; the
	// leader renews every third of it and stops commanding before it can expire.
	LeaseTTL Duration `toml:"lease_ttl"`
	// StaleAfter is how long an instance goes without hearing a valid leader before it is
	// isolated and holds its own miners at SafeFloorKW.
	StaleAfter Duration `toml:"stale_after"`
	// SafeFloorKW is the most this instance's own miners may draw while it is isolated.
	SafeFloorKW float64 `toml:"safe_floor_kw"`
	// ConsoleURL is this instance's console as operators reach it (http(s)://host:port),
	// shown with the instance on every instance's site page; empty shows none.
	ConsoleURL string `toml:"console_url"`
}

// DefaultConfig is a 3 s lease, isolation after 10 s and a zero floor (everything off when
// isolated); Site and one of NATSURL or Embed must still be set.
func DefaultConfig() Config {
	return Config{LeaseTTL: Duration(3 * time.Second), StaleAfter: Duration(10 * time.Second), EmbedListen: "127.0.0.1:4222"}
}

// ConfigError names the [cluster] key that is wrong, as written in the TOML.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string { return "cluster." + e.Key + ": " + e.Reason }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// name is what may appear in one NATS subject token and a KV bucket name.
var name = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// minLeaseTTL keeps renewals (every third of the TTL) well above a loaded server's latency.
const minLeaseTTL = 300 * time.Millisecond

// Validate checks the table and names the wrong key.
func (c *Config) Validate() error {
	switch {
	case !name.MatchString(c.Site):
		return cfgErr("site", "must be 1-64 letters, digits, '-' or '_' (a NATS subject token), got %q", c.Site)
	case c.Instance != "" && !name.MatchString(c.Instance):
		return cfgErr("instance", "must be 1-64 letters, digits, '-' or '_', got %q", c.Instance)
	case c.Embed == (c.NATSURL != ""):
		return cfgErr("nats_url", "set exactly one of nats_url (an external NATS cluster) and embed = true")
	case c.LeaseTTL.D() < minLeaseTTL:
		return cfgErr("lease_ttl", "must be at least %s", minLeaseTTL)
	case c.StaleAfter.D() <= c.LeaseTTL.D():
		return cfgErr("stale_after", "must be longer than lease_ttl (%s): a follower must outlive one lost lease before it isolates", c.LeaseTTL.D())
	case math.IsNaN(c.SafeFloorKW) || math.IsInf(c.SafeFloorKW, 0) || c.SafeFloorKW < 0:
		return cfgErr("safe_floor_kw", "must be >= 0")
	}
	if c.ConsoleURL != "" {
		if p, err := url.Parse(c.ConsoleURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(c.ConsoleURL) > 512 {
			return cfgErr("console_url", "%q is not an http(s) URL of at most 512 bytes", c.ConsoleURL)
		}
	}
	for _, u := range splitList(c.NATSURL) {
		if p, err := url.Parse(u); err != nil || p.Host == "" {
			return cfgErr("nats_url", "%q is not a URL (nats://host:4222)", u)
		}
	}
	if c.Embed {
		if _, _, err := net.SplitHostPort(c.EmbedListen); err != nil {
			return cfgErr("embed_listen", "%q is not host:port", c.EmbedListen)
		}
		if c.EmbedStoreDir == "" {
			return cfgErr("embed_store_dir", "must be set with embed: the lease's revisions (the fencing epochs) must survive a restart")
		}
		for _, u := range splitList(c.EmbedRoutes) {
			if p, err := url.Parse(u); err != nil || p.Host == "" {
				return cfgErr("embed_routes", "%q is not a URL (nats-route://host:6222)", u)
			}
		}
		if c.EmbedRoutes != "" || c.EmbedClusterListen != "" {
			if _, _, err := net.SplitHostPort(c.EmbedClusterListen); err != nil {
				return cfgErr("embed_cluster_listen", "%q is not host:port (needed with embed_routes)", c.EmbedClusterListen)
			}
		}
	} else if c.EmbedRoutes != "" || c.EmbedStoreDir != "" || c.EmbedClusterListen != "" {
		return cfgErr("embed", "embed_* keys need embed = true")
	}
	return nil
}

// OrderTime is the most a leader's order runs at its owner, whatever it asks: stale_after
// - lease_ttl, so it ends before the owner could isolate over it.
func (c *Config) OrderTime() time.Duration { return c.StaleAfter.D() - c.LeaseTTL.D() }

// CheckPolicy reports a [policy] whose apply_timeout this table cuts short, naming the keys:
// every order to firmware slower than OrderTime fails at its owner (stock Antminer firmware
// answers in ~21 s, beyond the defaults' 7 s). A warning rather than an error: firmware that
// answers within OrderTime is served whatever apply_timeout says.
func (c *Config) CheckPolicy(p policy.Config) error {
	if t := c.OrderTime(); p.ApplyTimeout.D() > t {
		return cfgErr("stale_after", "%s minus cluster.lease_ttl %s gives a leader's order %s at its owner, less than policy.apply_timeout %s: "+
			"firmware slower than that (stock Antminer ~21 s) fails every order; set stale_after to at least %s or apply_timeout to at most %s",
			c.StaleAfter.D(), c.LeaseTTL.D(), t, p.ApplyTimeout.D(), p.ApplyTimeout.D()+c.LeaseTTL.D(), t)
	}
	return nil
}

// InstanceName is Instance, else the hostname made subject-safe.
func (c *Config) InstanceName() string {
	if c.Instance != "" {
		return c.Instance
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "hashgate"
	}
	h = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, h)
	if len(h) > 64 {
		h = h[:64]
	}
	return h
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
