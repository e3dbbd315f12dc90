package power

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestEnergyReadingAfterAnotherRoleClosedTheInterval: readings of two meters interleave
// around every interval boundary. A site-import reading at 60.1 s closes [0, 60 s) and
// carries the mining load's held value to 60 s; the mining meter's own reading dated 59.9 s
// arriving after it is newer than that meter's last (50 s) and must set the value held from
// 60 s on, not be dropped as out of order: each span is integrated once, at the value its
// reading gave.
func TestEnergyReadingAfterAnotherRoleClosedTheInterval(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	e := newEnergyLedger(time.Minute, t0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	e.observe(policy.Reading{Role: policy.RoleMiningLoad, Value: 360, At: at(50_000)})
	e.observe(policy.Reading{Role: policy.RoleSiteImport, Value: 0, At: at(59_000)})
	closed := e.observe(policy.Reading{Role: policy.RoleSiteImport, Value: 0, At: at(60_100)})
	if len(closed) != 1 {
		t.Fatalf("%d intervals closed at 60.1 s, want 1", len(closed))
	}
	// 360 kW held 50-60 s: 1 kWh in the closed interval.
	if got := closed[0].MiningKWh; got < 0.999 || got > 1.001 {
		t.Fatalf("closed interval's mining energy %.4f kWh, want 1", got)
	}
	e.observe(policy.Reading{Role: policy.RoleMiningLoad, Value: 3600, At: at(59_900)})
	e.observe(policy.Reading{Role: policy.RoleMiningLoad, Value: 3600, At: at(70_000)})
	// 3600 kW from 60 s to 70 s: 10 kWh in the open interval.
	if got := e.sums[policy.RoleMiningLoad]; got < 9.999 || got > 10.001 {
		t.Fatalf("mining load 60-70 s integrated as %.4f kWh, want 10", got)
	}
	// The late reading itself is now the newest: one older still is dropped.
	e.observe(policy.Reading{Role: policy.RoleMiningLoad, Value: 1e6, At: at(65_000)})
	e.observe(policy.Reading{Role: policy.RoleMiningLoad, Value: 3600, At: at(71_000)})
	if got := e.sums[policy.RoleMiningLoad]; got < 10.999 || got > 11.001 {
		t.Fatalf("after a reading older than the last, 60-71 s integrated as %.4f kWh, want 11", got)
	}
}
