package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
)

var _ power.SiteControls = (*Node)(nil)

// siteOf starts a NATS server and instances a and b (two simulated miners each, 14 kW of
// mining under a 24 kW limit over a 5 kW base: nothing shed) and waits for one leader that
// both instances follow.
func siteOf(t *testing.T) (*Embedded, *site, []*instance) {
	t.Helper()
	srv, err := StartEmbedded(EmbedOptions{Name: "c", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	s := newSite(t, 5)
	poolAddr := startPool(t)
	pc := sitePolicy(24)
	ins := []*instance{
		startInstance(t, s, "a", poolAddr, srv.Addr().String(), 2, pc),
		startInstance(t, s, "b", poolAddr, srv.Addr().String(), 2, pc),
	}
	waitFor(t, "one leader, both instances' miners known and running", func() bool {
		ls := leaders(ins)
		if len(ls) != 1 {
			return false
		}
		for _, in := range ins {
			st := in.node.Status()
			if len(st.Instances) != 2 || st.Instances[0].Miners != 2 || st.Instances[1].Miners != 2 || in.sleeping() != 0 {
				return false
			}
		}
		r := ls[0].node.Runner()
		return r != nil && len(r.Snapshot().Miners) == 4
	})
	return srv, s, ins
}

func follower(ins []*instance) *instance {
	for _, in := range ins {
		if in.cancel != nil && in.role() == RoleFollower {
			return in
		}
	}
	return nil
}

func asleep(ins []*instance) int {
	n := 0
	for _, in := range ins {
		n += in.sleeping()
	}
	return n
}

func leaderManual(ins []*instance) (policy.Manual, bool) {
	ls := leaders(ins)
	if len(ls) != 1 {
		return policy.Manual{}, false
	}
	r := ls[0].node.Runner()
	if r == nil {
		return policy.Manual{}, false
	}
	return r.Snapshot().Manual, true
}

// A cap set through a follower's Controller limits the whole site under the leader; the
// leader is killed and the new one keeps the cap; cleared on the new leader, the site runs.
func TestSiteCapFromFollowerSurvivesLeaderChange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	_, _, ins := siteOf(t)
	f := follower(ins)
	if f == nil {
		t.Fatal("no follower")
	}
	until := time.Now().Add(time.Hour)
	if err := f.ctl.SetCap(context.Background(), "alice", 4, until); err != nil {
		t.Fatal(err)
	}
	// 3.5 kW miners under a 4 kW cap: one runs, three sleep, on both instances together.
	waitFor(t, "three of four miners asleep under the cap", func() bool { return asleep(ins) == 3 })
	if m, ok := leaderManual(ins); !ok || m.CapKW != 4 || !m.CapUntil.Equal(until) {
		t.Fatalf("leader's controls %+v", m)
	}
	leader := leaders(ins)[0]
	leader.stop()
	waitFor(t, "the follower leading with the cap in force", func() bool {
		m, ok := leaderManual(ins)
		return ok && f.role() == RoleLeader && m.CapKW == 4 && m.CapUntil.Equal(until)
	})
	// Its own two miners (7 kW) are over the cap: one sleeps.
	waitFor(t, "the new leader keeping its miners under the cap", func() bool { return f.sleeping() == 1 })
	if err := f.ctl.ClearCap(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.ctl.ClearCap(context.Background(), "alice"); !errors.Is(err, ErrNoControl) {
		t.Fatalf("clearing no cap: %v", err)
	}
	waitFor(t, "the cap cleared and the miners restored", func() bool {
		m, ok := leaderManual(ins)
		return ok && m.CapUntil.IsZero() && f.sleeping() == 0
	})
}

// A group paused on instance b pauses instance a's miners of that group, and resumes from a;
// a demand-response event added on a sheds the whole site when it starts, and is cancelled.
func TestSiteGroupPauseAndDRAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	_, _, ins := siteOf(t)
	a, b := ins[0], ins[1]
	ctx := context.Background()
	if err := b.ctl.PauseGroup(ctx, "bob", "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "group a's miners asleep on instance a", func() bool { return a.sleeping() == 2 })
	if b.sleeping() != 0 {
		t.Fatalf("group b's miners asleep: %d", b.sleeping())
	}
	if err := a.ctl.ResumeGroup(ctx, "carol", "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "group a resumed", func() bool {
		m, ok := leaderManual(ins)
		return ok && len(m.PausedGroups) == 0 && a.sleeping() == 0
	})
	if err := b.ctl.PauseGroup(ctx, "bob", "nosuch"); !errors.Is(err, power.ErrNotFound) {
		t.Fatalf("unknown group: %v", err)
	}

	// A 6 kW import target over the 5 kW base leaves no room for a 3.5 kW miner.
	start := time.Now().Add(3 * time.Second)
	ev := policy.DREvent{ID: "dr-1", Start: start, End: start.Add(time.Hour), TargetKW: 6}
	if err := a.ctl.ScheduleDR(ctx, "carol", ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event at the leader", func() bool {
		m, ok := leaderManual(ins)
		return ok && len(m.DR) == 1 && m.DR[0].ID == "dr-1"
	})
	if n := asleep(ins); n != 0 && time.Now().Before(start) {
		t.Fatalf("%d miners shed before the event started", n)
	}
	waitFor(t, "every miner shed during the event", func() bool { return asleep(ins) == 4 })
	if time.Now().Before(start) {
		t.Fatal("shed before the event's start")
	}
	if err := b.ctl.CancelDR(ctx, "bob", "dr-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.ctl.CancelDR(ctx, "bob", "dr-1"); !errors.Is(err, ErrNoControl) {
		t.Fatalf("cancelling no event: %v", err)
	}
	waitFor(t, "the event cancelled and the site restored", func() bool {
		m, ok := leaderManual(ins)
		return ok && len(m.DR) == 0 && asleep(ins) == 0
	})
}

// Values in the controls key that are not a valid document are refused with a log line and
// counted; the last good controls stay in force, and the next operator control replaces the
// garbage starting from them.
func TestSiteControlsRefuseGarbage(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	s := newSite(t, 1)
	in := startInstance(t, s, "a", startPool(t), srv.Addr().String(), 1, sitePolicy(100))
	waitFor(t, "the lone instance leading", func() bool { return in.role() == RoleLeader && in.node.Runner() != nil })
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	if err := in.ctl.SetCap(ctx, "alice", 7, until); err != nil {
		t.Fatal(err)
	}
	manual := func() policy.Manual {
		if r := in.node.Runner(); r != nil {
			return r.Snapshot().Manual
		}
		return policy.Manual{}
	}
	waitFor(t, "the cap applied", func() bool { return manual().CapKW == 7 })
	_, js := connect(t, srv.ClientURL())
	kv, err := js.KeyValue(ctx, ControlsBucket("site1"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := []string{
		`not json`,
		`{"v":2}`,
		`{"v":1,"cap":{"kw":-1,"until":"2030-01-01T00:00:00Z"}}`,
		`{"v":1,"cap":{"kw":5}}`,
		`{"v":1,"cap":{"kw":1e400,"until":"2030-01-01T00:00:00Z"}}`,
		`{"v":1,"paused_groups":[""]}`,
		`{"v":1,"paused_groups":["a","a"]}`,
		`{"v":1,"paused_groups":["` + strings.Repeat("g", 300) + `"]}`,
		`{"v":1,"dr":[{"id":"x","start":"2030-01-02T00:00:00Z","end":"2030-01-01T00:00:00Z","target_kw":1}]}`,
		`{"v":1,"dr":[{"id":"","start":"2030-01-01T00:00:00Z","end":"2030-01-02T00:00:00Z","target_kw":1}]}`,
		`{"v":1,"dr":[{"id":"x","start":"2030-01-01T00:00:00Z","end":"2030-01-02T00:00:00Z","target_kw":-3}]}`,
		`{"v":1,"paused_groups":"a"}`,
		`{"v":1} {"v":1}`,
		`{"v":1,"paused_groups":[` + strings.Repeat(`"g",`, 300) + `"g"]}`,
	}
	for _, g := range garbage {
		before := in.node.Status().BadMessages
		if _, err := kv.Put(ctx, controlsKey, []byte(g)); err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		waitFor(t, "garbage counted: "+g, func() bool { return in.node.Status().BadMessages > before })
		if m := manual(); m.CapKW != 7 || !m.CapUntil.Equal(until) || len(m.PausedGroups) != 0 || len(m.DR) != 0 {
			t.Fatalf("%s changed the controls: %+v", g, m)
		}
	}
	in.logs.mu.Lock()
	logged := strings.Count(in.logs.b.String(), "site controls refused")
	in.logs.mu.Unlock()
	if logged < len(garbage) {
		t.Fatalf("%d refusals logged for %d bad values", logged, len(garbage))
	}
	if _, err := DecodeControls(make([]byte, maxControls+1)); err == nil {
		t.Fatal("an oversized document decoded")
	}
	// The next control starts from the last good document: the cap stays.
	if err := in.ctl.PauseGroup(ctx, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group paused with the cap kept", func() bool {
		m := manual()
		return m.CapKW == 7 && len(m.PausedGroups) == 1 && m.PausedGroups[0] == "a"
	})
	// Deleting the key (nats kv del) clears the controls.
	if err := kv.Delete(ctx, controlsKey); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the controls cleared with the key", func() bool {
		m := manual()
		return m.CapUntil.IsZero() && len(m.PausedGroups) == 0
	})
}

// An instance that cannot reach NATS answers a site control with ErrNoNATS instead of
// keeping it where the site's policy never sees it; once NATS is back the control is stored.
func TestSiteControlsWithoutNATS(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "site1", "z", "nats://127.0.0.1:1"
	idle, err := New(cc, Options{Policy: sitePolicy(100)})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.SetCap(context.Background(), 4, time.Now().Add(time.Hour)); !errors.Is(err, ErrNoNATS) {
		t.Fatalf("a node not started: %v", err)
	}
	r := newRelay(t, srv.Addr().String())
	r.setCut(true)
	in := startInstanceVia(t, newSite(t, 1), "a", startPool(t), r, 1, sitePolicy(100))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		f    func() error
	}{
		{"cap", func() error { return in.ctl.SetCap(ctx, "alice", 4, time.Now().Add(time.Hour)) }},
		{"clear cap", func() error { return in.ctl.ClearCap(ctx, "alice") }},
		{"pause group", func() error { return in.ctl.PauseGroup(ctx, "alice", "a") }},
		{"resume group", func() error { return in.ctl.ResumeGroup(ctx, "alice", "a") }},
		{"dr", func() error {
			return in.ctl.ScheduleDR(ctx, "alice", policy.DREvent{ID: "e", Start: time.Now(), End: time.Now().Add(time.Hour), TargetKW: 1})
		}},
		{"cancel dr", func() error { return in.ctl.CancelDR(ctx, "alice", "e") }},
	} {
		if err := c.f(); !errors.Is(err, ErrNoNATS) {
			t.Errorf("%s without NATS: %v", c.name, err)
		}
	}
	r.setCut(false)
	waitFor(t, "the cap stored once NATS is reachable", func() bool {
		return in.ctl.SetCap(ctx, "alice", 4, time.Now().Add(time.Hour)) == nil
	})
	waitFor(t, "the cap in force", func() bool {
		rn := in.node.Runner()
		return rn != nil && rn.Snapshot().Manual.CapKW == 4
	})
}

// A cap ends at its until: the miners it shed are restored once it has passed, never before.
func TestSiteCapEndsAtItsUntil(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	_, _, ins := siteOf(t)
	until := time.Now().Add(12 * time.Second)
	if err := ins[1].ctl.SetCap(context.Background(), "alice", 4, until); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three of four miners asleep under the cap", func() bool { return asleep(ins) == 3 || time.Now().After(until) })
	if time.Now().After(until) {
		t.Skip("the box took longer than the cap's 12 s to shed under it")
	}
	waitFor(t, "every miner running after the cap's until", func() bool { return asleep(ins) == 0 })
	if time.Now().Before(until) {
		t.Fatal("the miners were restored before the cap ended")
	}
}

// Controls written at the same moment through two instances are all kept: each write is
// checked against the revision it read and retried, and a writer loses at most once to each
// other writer, well within its tries.
func TestSiteControlsConcurrentWritesAllKept(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	s, poolAddr := newSite(t, 1), startPool(t)
	a := startInstance(t, s, "a", poolAddr, srv.Addr().String(), 1, sitePolicy(100))
	b := startInstance(t, s, "b", poolAddr, srv.Addr().String(), 1, sitePolicy(100))
	waitFor(t, "a leader", func() bool { return len(leaders([]*instance{a, b})) == 1 })
	const writers = controlWriteTries - 2
	errs := make(chan error, writers)
	for i := range writers {
		n := []*Node{a.node, b.node}[i%2]
		go func() { errs <- n.PauseGroup(context.Background(), "g"+strconv.Itoa(i)) }()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every paused group at the leader", func() bool {
		m, ok := leaderManual([]*instance{a, b})
		return ok && len(m.PausedGroups) == writers
	})
}

// The site's controls are kept when every instance restarts: a new process leading the site
// applies the stored cap and paused group before deciding.
func TestSiteControlsOutliveARestart(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	s, poolAddr := newSite(t, 1), startPool(t)
	first := startInstance(t, s, "a", poolAddr, srv.Addr().String(), 1, sitePolicy(100))
	waitFor(t, "the first run leading", func() bool { return first.role() == RoleLeader })
	until := time.Now().Add(time.Hour)
	ctx := context.Background()
	if err := first.ctl.SetCap(ctx, "alice", 9, until); err != nil {
		t.Fatal(err)
	}
	if err := first.ctl.PauseGroup(ctx, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	first.stop()
	again := startInstance(t, s, "a", poolAddr, srv.Addr().String(), 1, sitePolicy(100))
	waitFor(t, "the next run leading with the stored controls", func() bool {
		r := again.node.Runner()
		if r == nil {
			return false
		}
		m := r.Snapshot().Manual
		return m.CapKW == 9 && m.CapUntil.Equal(until) && slices.Equal(m.PausedGroups, []string{"a"})
	})
	waitFor(t, "its miner paused with its group", func() bool { return again.sleeping() == 1 })
}

func FuzzDecodeControls(f *testing.F) {
	seed(f, &Controls{V: 1}, &Controls{V: 1, Cap: &CapControl{KW: 4, Until: time.Unix(1e9, 0).UTC()}, PausedGroups: []string{"a", "b"},
		DR: []DRControl{{ID: "e", Start: time.Unix(1e9, 0).UTC(), End: time.Unix(1e9+60, 0).UTC(), TargetKW: 6}}})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeControls) })
}
