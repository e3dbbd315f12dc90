package power

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestEnergyOutOfOrderReadingCountedOnce: readings that arrive out of order (paho runs MQTT
// handlers concurrently) integrate each span once; a repeated instant counts nothing more.
func TestEnergyOutOfOrderReadingCountedOnce(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	e := newEnergyLedger(time.Minute, t0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, s := range []int{0, 2, 1, 3, 3, 2} { // 1 arrives after 2, 3 twice, 2 again late
		e.observe(policy.Reading{Role: policy.RoleSiteImport, Value: 3600, At: at(s)}) // 3600 kW: 1 kWh a second
	}
	if got := e.sums[policy.RoleSiteImport]; got < 2.9999 || got > 3.0001 {
		t.Fatalf("3 s at 1 kWh/s integrated as %.4f kWh, want 3", got)
	}
	// The ledger goes on from the newest reading, at its value.
	e.observe(policy.Reading{Role: policy.RoleSiteImport, Value: 0, At: at(5)})
	if got := e.sums[policy.RoleSiteImport]; got < 4.9999 || got > 5.0001 {
		t.Fatalf("after a reading at 5 s: %.4f kWh, want 5", got)
	}
}
