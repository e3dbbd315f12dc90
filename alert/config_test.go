package alert

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromTOML(t *testing.T) {
	c := DefaultConfig()
	md, err := toml.Decode(`
check_interval = "30s"
repeat_interval = "1h"
miners_drop_percent = 25
[[webhook]]
url = "https://hooks.example.com/services/T0/B0/secret"
min_severity = "critical"
secret = "s3"
attempts = 2
timeout = "3s"
headers = { Authorization = "Bearer abc" }
[[webhook]]
name = "ops"
url = "http://127.0.0.1:9/hook"
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("undecoded %v", und)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	w0, w1 := c.Webhooks[0].withDefaults(0), c.Webhooks[1].withDefaults(1)
	if w0.Name != "webhook[0]" || w0.MinSeverity != SeverityCritical || w0.Attempts != 2 || w0.Timeout.D() != 3*time.Second ||
		w0.Headers["Authorization"] != "Bearer abc" || w0.Secret != "s3" {
		t.Fatalf("webhook[0] %+v", w0)
	}
	if w1.Name != "ops" || w1.MinSeverity != SeverityWarning || w1.Attempts != defaultAttempts || w1.Timeout.D() != defaultTimeout {
		t.Fatalf("webhook[1] %+v", w1)
	}
	if c.CheckInterval.D() != 30*time.Second || c.RepeatInterval.D() != time.Hour || c.MinersDropPercent != 25 {
		t.Fatalf("config %+v", c)
	}
	var bad Config
	if _, err := toml.Decode("[[webhook]]\nmin_severity = \"info\"\n", &bad); err == nil || !strings.Contains(err.Error(), "warning or critical") {
		t.Fatalf("min_severity info: %v", err)
	}
}

// TestConfigValidateNamesKey: every wrong value is refused at start, naming the key as
// written in hashgate.toml, and never echoing a webhook URL (it is the secret).
func TestConfigValidateNamesKey(t *testing.T) {
	hook := func(f func(w *WebhookConfig)) func(c *Config) {
		return func(c *Config) {
			w := WebhookConfig{URL: "https://hooks.example.com/services/T0/B0/XSECRETX"}
			f(&w)
			c.Webhooks = append(c.Webhooks, w)
		}
	}
	for _, tc := range []struct {
		key string
		mod func(c *Config)
	}{
		{"check_interval", func(c *Config) { c.CheckInterval = Duration(100 * time.Millisecond) }},
		{"check_interval", func(c *Config) { c.CheckInterval = Duration(time.Hour) }},
		{"repeat_interval", func(c *Config) { c.RepeatInterval = Duration(time.Second) }},
		{"miners_drop_percent", func(c *Config) { c.MinersDropPercent = 0 }},
		{"miners_drop_percent", func(c *Config) { c.MinersDropPercent = 101 }},
		{"miners_baseline", func(c *Config) { c.MinersBaseline = Duration(time.Second) }},
		{"queue", func(c *Config) { c.Queue = 0 }},
		{"instance", func(c *Config) { c.Instance = "site\nFAKE LINE" }},
		{"pool_down_for", func(c *Config) { c.PoolDownFor = Duration(-time.Second) }},
		{"safe_floor_for", func(c *Config) { c.SafeFloorFor = Duration(48 * time.Hour) }},
		{"webhook[0].url", hook(func(w *WebhookConfig) { w.URL = "" })},
		{"webhook[0].url", hook(func(w *WebhookConfig) { w.URL = "ftp://hooks.example.com/XSECRETX" })},
		{"webhook[0].url", hook(func(w *WebhookConfig) { w.URL = "https:///XSECRETX" })},
		{"webhook[0].url", hook(func(w *WebhookConfig) { w.URL = "https://hooks.example.com/%zzXSECRETX" })},
		{"webhook[0].min_severity", hook(func(w *WebhookConfig) { w.MinSeverity = 7 })},
		{"webhook[0].timeout", hook(func(w *WebhookConfig) { w.Timeout = Duration(time.Hour) })},
		{"webhook[0].attempts", hook(func(w *WebhookConfig) { w.Attempts = -1 })},
		{"webhook[0].headers.Content-Type", hook(func(w *WebhookConfig) { w.Headers = map[string]string{"Content-Type": "text/plain"} })},
		{"webhook[0].headers.Bad Name", hook(func(w *WebhookConfig) { w.Headers = map[string]string{"Bad Name": "x"} })},
		{"webhook[0].headers.X-Token", hook(func(w *WebhookConfig) { w.Headers = map[string]string{"X-Token": "a\r\nX-Injected: 1"} })},
		{"webhook[1].name", func(c *Config) {
			c.Webhooks = []WebhookConfig{{Name: "ops", URL: "https://a.example/x"}, {Name: "ops", URL: "https://b.example/x"}}
		}},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v", tc.key, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "alert."+tc.key+": ") || strings.Contains(err.Error(), "XSECRETX") {
			t.Errorf("%s: message %q", tc.key, err)
		}
	}
}
