package alert

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
)

// Duration is a config duration ("1m").
type Duration = tomltime.Duration

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("alert: invalid config")

// ConfigError names the [alert] key that is wrong, as written in hashgate.toml.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string { return "alert." + e.Key + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Severity orders alerts: a webhook gets the alerts at or above its min_severity.
type Severity uint8

// Severities, least urgent first. Warning needs a look today; critical costs money or
// hashrate now (no work for the fleet, a site over its grid limit).
const (
	SeverityWarning Severity = iota + 1
	SeverityCritical
)

var severityNames = [...]string{"", "warning", "critical"}

func (s Severity) String() string {
	if s >= SeverityWarning && s <= SeverityCritical {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "warning" or "critical".
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if i > 0 && n == string(b) {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("want warning or critical, got %q", b)
}

// Config is the [alert] section.
type Config struct {
	// Instance names this hashgate in every notification, so several sites can share one
	// channel; "" means the host name.
	Instance string `toml:"instance"`
	// CheckInterval is how often the conditions are evaluated.
	CheckInterval Duration `toml:"check_interval"`
	// RepeatInterval is how often a still-firing alert is sent again; 0 sends it once.
	RepeatInterval Duration `toml:"repeat_interval"`
	// PoolDownFor is how long no pool (no_pool_up), or one pool while another is up
	// (pool_down), must be down before the alert fires: failover and reconnects take seconds.
	PoolDownFor Duration `toml:"pool_down_for"`
	// OverLimitFor is how long the policy must be in over_limit mode (the site meter above
	// the import limit) before site_over_limit fires: a shed takes a little while.
	OverLimitFor Duration `toml:"over_limit_for"`
	// SafeFloorFor is how long the fleet must be held at the safe floor before fleet_safe_floor fires.
	SafeFloorFor Duration `toml:"safe_floor_for"`
	// MinersOfflineFor is how long the connected miner count must stay low before
	// miners_offline or no_miners fires: a pool switch reconnects every miner.
	MinersOfflineFor Duration `toml:"miners_offline_for"`
	// MinersDropPercent: miners_offline fires when the connected miners fall more than this
	// percentage below the most seen within miners_baseline.
	MinersDropPercent float64 `toml:"miners_drop_percent"`
	// MinersBaseline is the window whose peak miner count is the baseline. Comparing with a
	// peak rather than a count from minutes ago keeps the alert firing while the miners stay
	// away; after this long without them the lower count is the new normal.
	MinersBaseline Duration `toml:"miners_baseline"`
	// Queue is each webhook's notification queue; when it is full (a receiver down for long)
	// the oldest notification is dropped (drop reason alert_webhook_queue_full).
	Queue int `toml:"queue"`
	// Webhooks are [[alert.webhook]]: where notifications go. Without any, alerts still
	// show in the console and at GET /api/v1/alerts.
	Webhooks []WebhookConfig `toml:"webhook"`
}

// WebhookConfig is one [[alert.webhook]]: an HTTP endpoint that takes Slack-compatible JSON
// (Slack or Mattermost incoming webhooks, or any receiver reading the structured fields).
type WebhookConfig struct {
	// Name identifies the webhook in logs; "" means webhook[i]. The URL is never logged
	// (a Slack webhook URL is itself the secret).
	Name string `toml:"name"`
	// URL is the http or https endpoint to POST to.
	URL string `toml:"url"`
	// Headers are added to every request (Authorization for a receiver that wants one).
	Headers map[string]string `toml:"headers"`
	// Secret, when set, signs each request: X-Hashgate-Signature is "sha256=" and the hex
	// HMAC-SHA256 of X-Hashgate-Timestamp, ".", and the body.
	Secret string `toml:"secret"`
	// MinSeverity is the least severe alert sent here: warning (default) or critical.
	MinSeverity Severity `toml:"min_severity"`
	// Timeout bounds one request; 0 means 10s.
	Timeout Duration `toml:"timeout"`
	// Attempts is how many times a notification is tried (the first included) before it is
	// given up, with back-off between tries; 0 means 4.
	Attempts int `toml:"attempts"`
}

// Webhook defaults for zero fields.
const (
	defaultTimeout  = 10 * time.Second
	defaultAttempts = 4
)

func (w WebhookConfig) withDefaults(i int) WebhookConfig {
	if w.Name == "" {
		w.Name = fmt.Sprintf("webhook[%d]", i)
	}
	if w.MinSeverity == 0 {
		w.MinSeverity = SeverityWarning
	}
	if w.Timeout == 0 {
		w.Timeout = Duration(defaultTimeout)
	}
	if w.Attempts == 0 {
		w.Attempts = defaultAttempts
	}
	return w
}

// DefaultConfig returns the defaults: a check every 15 s, repeats every 4 h, no webhook.
func DefaultConfig() Config {
	return Config{
		CheckInterval:     Duration(15 * time.Second),
		RepeatInterval:    Duration(4 * time.Hour),
		PoolDownFor:       Duration(time.Minute),
		OverLimitFor:      Duration(time.Minute),
		SafeFloorFor:      Duration(2 * time.Minute),
		MinersOfflineFor:  Duration(2 * time.Minute),
		MinersDropPercent: 50,
		MinersBaseline:    Duration(time.Hour),
		Queue:             64,
	}
}

// Limits enforced by Validate.
const (
	minCheckInterval = time.Second
	maxCheckInterval = 10 * time.Minute
	maxFor           = 24 * time.Hour
	maxQueue         = 10000
	maxTimeout       = 5 * time.Minute
	maxAttempts      = 20
)

// headers a webhook may not set: the sender owns them.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "X-Hashgate-Signature", "X-Hashgate-Timestamp"}

// Validate checks the config and names the wrong key.
func (c *Config) Validate() error {
	check := c.CheckInterval.D()
	switch {
	case check < minCheckInterval || check > maxCheckInterval:
		return cfgErr("check_interval", "must be within %v..%v", minCheckInterval, maxCheckInterval)
	case c.RepeatInterval.D() != 0 && c.RepeatInterval.D() < check:
		return cfgErr("repeat_interval", "must be 0 (send once) or at least check_interval (%v)", check)
	case c.MinersDropPercent <= 0 || c.MinersDropPercent > 100:
		return cfgErr("miners_drop_percent", "must be above 0 and at most 100")
	case c.MinersBaseline.D() < check || c.MinersBaseline.D() > maxFor:
		return cfgErr("miners_baseline", "must be within check_interval (%v)..%v", check, maxFor)
	case c.Queue < 1 || c.Queue > maxQueue:
		return cfgErr("queue", "must be within 1..%d", maxQueue)
	case strings.ContainsAny(c.Instance, "\r\n"):
		return cfgErr("instance", "must be one line")
	}
	for _, f := range []struct {
		key string
		d   Duration
	}{{"pool_down_for", c.PoolDownFor}, {"over_limit_for", c.OverLimitFor}, {"safe_floor_for", c.SafeFloorFor},
		{"miners_offline_for", c.MinersOfflineFor}} {
		if f.d.D() < 0 || f.d.D() > maxFor {
			return cfgErr(f.key, "must be within 0..%v", maxFor)
		}
	}
	names := make(map[string]bool, len(c.Webhooks))
	for i, w := range c.Webhooks {
		key := func(k string) string { return fmt.Sprintf("webhook[%d].%s", i, k) }
		if err := w.validate(key); err != nil {
			return err
		}
		n := w.withDefaults(i).Name
		if names[n] {
			return cfgErr(key("name"), "%q is used twice", n)
		}
		names[n] = true
	}
	return nil
}

func (w *WebhookConfig) validate(key func(string) string) error {
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		return cfgErr(key("url"), "must be set")
	case err != nil:
		// url.Parse quotes the whole URL in its error, and the URL may be a secret.
		return cfgErr(key("url"), "not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return cfgErr(key("url"), "want an http:// or https:// URL, got scheme %q", u.Scheme)
	case u.Host == "":
		return cfgErr(key("url"), "has no host")
	case strings.ContainsAny(w.Name, "\r\n"):
		return cfgErr(key("name"), "must be one line")
	case w.MinSeverity != 0 && (w.MinSeverity < SeverityWarning || w.MinSeverity > SeverityCritical):
		return cfgErr(key("min_severity"), "want warning or critical")
	case w.Timeout.D() < 0 || w.Timeout.D() > maxTimeout:
		return cfgErr(key("timeout"), "must be within 0 (10s)..%v", maxTimeout)
	case w.Attempts < 0 || w.Attempts > maxAttempts:
		return cfgErr(key("attempts"), "must be within 0 (4)..%d", maxAttempts)
	}
	for name, v := range w.Headers {
		hk := key("headers." + name)
		if !validHeaderName(name) {
			return cfgErr(hk, "not a valid HTTP header name")
		}
		for _, r := range reservedHeaders {
			if strings.EqualFold(name, r) {
				return cfgErr(hk, "is set by hashgate itself")
			}
		}
		if !validHeaderValue(v) {
			return cfgErr(hk, "the value holds a control character")
		}
	}
	return nil
}

// validHeaderName accepts an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab: a newline would let a value
// smuggle another header.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
