package power

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
)

// TestOneClock: the Runner's, the meters' and the firmware's clocks are views of the
// Controller's one clock: they read its time and fire only when it moves.
func TestOneClock(t *testing.T) {
	start := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	m := clock.NewManual(start)
	pc, mc, fc := policyClock{m}, meterClock{m}, firmwareClock{m}
	if !pc.Now().Equal(start) || !mc.Now().Equal(start) || !fc.Now().Equal(start) {
		t.Fatal("views disagree on the time")
	}
	pt, mt, after := pc.NewTimer(time.Second), mc.NewTimer(2*time.Second), fc.After(3*time.Second)
	fired := func(c <-chan time.Time) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	m.Advance(999 * time.Millisecond)
	if fired(pt.C()) || fired(mt.C()) || fired(after) {
		t.Fatal("fired before its time")
	}
	m.Advance(time.Millisecond)
	if !fired(pt.C()) || fired(mt.C()) {
		t.Fatal("policy timer at 1 s")
	}
	m.Advance(2 * time.Second)
	if !fired(mt.C()) || !fired(after) {
		t.Fatal("meter timer at 2 s, firmware After at 3 s")
	}
	if st := pc.NewTimer(time.Second); !st.Stop() || func() bool { m.Advance(2 * time.Second); return fired(st.C()) }() {
		t.Fatal("a stopped timer fired")
	}
}
