package console

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestRuntimeMetrics: /metrics carries the Go and process collectors beside hashgate's own
// series, every family is hashgate_, go_ or process_, and docs/api.md names both groups.
func TestRuntimeMetrics(t *testing.T) {
	cfg := authConfig()
	cfg.PublicMetrics = true
	s := newServer(t, cfg, newFleetBackend(2, true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	code, body, _ := newClient(t, ts.URL).do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, body)
	text := string(body)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total", "hashgate_miners"} {
		if !strings.Contains(text, "\n"+name+" ") && !strings.Contains(text, "\n"+name+"{") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goFams, procFams int
	for _, f := range fams {
		switch name := f.GetName(); {
		case strings.HasPrefix(name, "hashgate_"):
		case strings.HasPrefix(name, "go_"):
			goFams++
		case strings.HasPrefix(name, "process_"):
			procFams++
		default:
			t.Errorf("/metrics exports %s: neither hashgate's nor the standard go_ or process_ families", name)
		}
	}
	if goFams < 10 || procFams < 4 {
		t.Errorf("go_ families %d, process_ families %d", goFams, procFams)
	}
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	if i := strings.Index(section, "## Metrics"); i >= 0 {
		section = section[i:]
	}
	for _, s := range []string{"`go_*`", "`process_*`", "`go_goroutines`", "`process_resident_memory_bytes`"} {
		if !strings.Contains(section, s) {
			t.Errorf("docs/api.md's metrics section does not mention %s", s)
		}
	}
}
