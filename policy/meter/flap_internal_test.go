package meter

import (
	"testing"
	"time"
)

// TestFlapWatch: only mqttFlapCount connections in a row, each closed within mqttFlapWindow of
// its connect, warn, and once per run; a connection that lasted starts the count again.
func TestFlapWatch(t *testing.T) {
	var f flapWatch
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, warn := f.down(now); warn {
		t.Fatal("a loss before any connect warned")
	}
	short := func() (int, bool) {
		f.up(now)
		now = now.Add(mqttFlapWindow / 10)
		return f.down(now)
	}
	for i := 1; i < mqttFlapCount; i++ {
		if n, warn := short(); warn || n != i {
			t.Fatalf("short connection %d: streak %d, warn %v", i, n, warn)
		}
	}
	if n, warn := short(); !warn || n != mqttFlapCount {
		t.Fatalf("short connection %d: streak %d, warn %v", mqttFlapCount, n, warn)
	}
	if _, warn := short(); warn {
		t.Fatal("warned twice in one run")
	}
	// A connection that lasts the window ends the run.
	f.up(now)
	now = now.Add(mqttFlapWindow)
	if n, warn := f.down(now); warn || n != 0 {
		t.Fatalf("long connection: streak %d, warn %v", n, warn)
	}
	for i := 1; i <= mqttFlapCount; i++ {
		if _, warn := short(); warn != (i == mqttFlapCount) {
			t.Fatalf("second run, connection %d: warn %v", i, warn)
		}
	}
}
