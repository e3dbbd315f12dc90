package cluster

import (
	"slices"
	"testing"
	"time"
)

// The floor Runner follows the controls document as the site Runner does: what the document
// holds is given to it when it starts and as it changes, what it drops is undone, a cap past
// its until is not applied, a garbage or older document changes nothing, and a new floor
// Runner (the next isolation) starts from the document, not from what the previous one had.
func TestFloorRunnerFollowsControlsDocument(t *testing.T) {
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "site1", "b", "nats://127.0.0.1:4222"
	cc.SafeFloorKW = 11
	n, err := New(cc, Options{Policy: sitePolicy(30)})
	if err != nil {
		t.Fatal(err)
	}
	floor := func() (*term, func()) {
		cfg := n.pcfg
		cfg.SafeFloorKW = cc.SafeFloorKW
		tm, err := n.startTerm(localActuator{n}, cfg, 0, nil) // no miners: it never applies
		if err != nil {
			t.Fatal(err)
		}
		n.mu.Lock()
		n.iso = tm
		n.applyControlsLocked()
		n.mu.Unlock()
		return tm, func() {
			n.mu.Lock()
			n.iso = nil
			n.mu.Unlock()
			tm.stop()
		}
	}
	doc := func(c Controls) []byte {
		c.V = 1
		b, err := encode(&c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now()
	ev := DRControl{ID: "dr-1", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), TargetKW: 6}
	n.takeControls(3, doc(Controls{Cap: &CapControl{KW: 4, Until: now.Add(time.Hour)}, PausedGroups: []string{"p", "q"}, DR: []DRControl{ev}}), false)

	tm, stop := floor()
	m := tm.r.Snapshot().Manual
	if m.CapKW != 4 || !slices.Equal(m.PausedGroups, []string{"p", "q"}) || len(m.DR) != 1 || m.DR[0].ID != "dr-1" {
		t.Fatalf("floor started with %+v", m)
	}
	// While isolated the document changes (NATS was up, the leader gone): q resumed, the
	// event cancelled, the cap already past its until.
	n.takeControls(4, doc(Controls{Cap: &CapControl{KW: 4, Until: now.Add(-time.Minute)}, PausedGroups: []string{"p"}}), false)
	m = tm.r.Snapshot().Manual
	if !m.CapUntil.IsZero() || !slices.Equal(m.PausedGroups, []string{"p"}) || len(m.DR) != 0 {
		t.Fatalf("floor after the change: %+v", m)
	}
	// Garbage and an older revision change nothing; the garbage is counted.
	bad := n.Status().BadMessages
	n.takeControls(5, []byte(`{"v":1,"paused_groups":["p","p"]}`), false)
	n.takeControls(2, doc(Controls{PausedGroups: []string{"x"}}), false)
	if m = tm.r.Snapshot().Manual; !slices.Equal(m.PausedGroups, []string{"p"}) || n.Status().BadMessages != bad+1 {
		t.Fatalf("floor after garbage and an older document: %+v, bad %d -> %d", m, bad, n.Status().BadMessages)
	}
	stop()

	// The next isolation's Runner gets the document as it is.
	n.takeControls(6, doc(Controls{PausedGroups: []string{"r"}}), false)
	tm, stop = floor()
	defer stop()
	if m = tm.r.Snapshot().Manual; !slices.Equal(m.PausedGroups, []string{"r"}) {
		t.Fatalf("second floor started with %+v", m)
	}
	n.takeControls(7, nil, true) // the document deleted: no controls
	if m = tm.r.Snapshot().Manual; len(m.PausedGroups) != 0 {
		t.Fatalf("second floor after the document was deleted: %+v", m)
	}
}
