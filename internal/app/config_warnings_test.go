package app

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestStartLogsConfigWarnings: `run` logs what `hashgate check` warns of, once at start: a
// clustered site on the test's lease (stale_after 6 s - lease_ttl 2 s = 4 s per order) with
// firmware to call, below the default apply_timeout of 30 s.
func TestStartLogsConfigWarnings(t *testing.T) {
	_, paddr := startTestPool(t)
	embed, _ := siteNATS(t)
	f := clusterFile(t, paddr, "a", embed, 1000)
	f.Fleet[0].Firmware, f.Fleet[0].Networks = "antminer", []string{"127.0.0.0/8"}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings()) != 1 {
		t.Fatalf("warnings %q, want the one about orders cut short", f.Warnings())
	}
	logs := &lockedBuffer{}
	a, err := Start(context.Background(), &f, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var n int
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "cluster.stale_after: ") &&
			strings.Contains(line, "policy.apply_timeout") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d start warnings about cluster.stale_after in the log, want 1:\n%s", n, logs.String())
	}
}
