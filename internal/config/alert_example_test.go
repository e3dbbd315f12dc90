package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/alert"
)

// TestExampleAlertSection: hashgate.example.toml's [alert] states the defaults, and its
// commented [[alert.webhook]] parses once uncommented.
func TestExampleAlertSection(t *testing.T) {
	path := filepath.Join("..", "..", "hashgate.example.toml")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Alert, alert.DefaultConfig()) {
		t.Fatalf("example [alert] %+v, defaults %+v", f.Alert, alert.DefaultConfig())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(l, "# [[alert.webhook]]") {
			in = true
		}
		if in && !strings.HasPrefix(l, "# ") {
			break
		}
		if in {
			lines[i] = strings.TrimPrefix(l, "# ")
		}
	}
	if !in {
		t.Fatal("the example has no [[alert.webhook]]")
	}
	g, err := Parse(strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Alert.Webhooks) != 1 {
		t.Fatalf("webhooks %+v", g.Alert.Webhooks)
	}
	w := g.Alert.Webhooks[0]
	if w.Name != "ops-chat" || !strings.HasPrefix(w.URL, "https://hooks.slack.com/") || w.MinSeverity != alert.SeverityWarning ||
		w.Headers["Authorization"] == "" || w.Secret == "" || w.Timeout.D() != 10*time.Second || w.Attempts != 4 {
		t.Fatalf("webhook %+v", w)
	}
	bad := strings.Replace(strings.Join(lines, "\n"), `min_severity = "warning"`, `min_severity = "page"`, 1)
	if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), `want warning or critical, got "page"`) {
		t.Fatalf("min_severity page: %v", err)
	}
	bad = strings.Replace(strings.Join(lines, "\n"), `check_interval      = "15s"`, `check_interval      = "1ms"`, 1)
	if _, err := Parse(bad); err == nil || !strings.HasPrefix(err.Error(), "alert.check_interval: ") {
		t.Fatalf("check_interval 1ms: %v", err)
	}
}
