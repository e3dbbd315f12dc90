package cluster

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/store"
)

// The site's controls document lives in NATS; each instance keeps the last one it took in its
// own store and starts from it, so a restart while NATS is unreachable holds the floor to the
// site's paused groups and cap. NATS's first answer replaces the kept copy.

// instantGates is an instance's Controller side whose firmware carries every command out at
// once.
type instantGates struct {
	mu      sync.Mutex
	applied map[string]policy.Action
}

func (g *instantGates) Plan([]policy.Decision) {}

func (g *instantGates) Apply(_ context.Context, d policy.Decision) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.applied == nil {
		g.applied = map[string]policy.Action{}
	}
	g.applied[d.MinerID] = d.Action
	return nil
}

// keptNode is an instance of site on url over the store st: four 3.5 kW miners, g-0 of group
// g and x-0..x-2 of group x, all running, and an 11 kW floor.
func keptNode(t *testing.T, site, url string, st *store.Store, logs *logBuf) (*Node, context.CancelFunc) {
	t.Helper()
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = site, "b", url
	cc.LeaseTTL, cc.StaleAfter, cc.SafeFloorKW = Duration(time.Second), Duration(3*time.Second), 11
	n, err := New(cc, Options{Policy: sitePolicy(1000), Controls: power.NewControlsStore(st),
		Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	for _, id := range []string{"g-0", "x-0", "x-1", "x-2"} {
		n.UpsertMiner(policy.Miner{ID: id, Worker: id, Group: id[:1], RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
			Commanded: policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: since}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx, &instantGates{}) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return n, stop
}

// deadURL is a NATS URL on a loopback port nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "nats://" + addr
}

// runningOf lists the miners n's inventory says run.
func runningOf(n *Node) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []string
	for id, m := range n.views {
		if m.Commanded.Action != policy.ActionPause {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// activeRunner is the site's Runner while n leads, else its floor's (nil: neither).
func activeRunner(n *Node) *policy.Runner {
	if r := n.Runner(); r != nil {
		return r
	}
	return isoRunner(n)
}

// keptOf reads the copy kept in st for site.
func keptOf(t *testing.T, st *store.Store, site string) (uint64, *Controls) {
	t.Helper()
	rev, b, ok, err := power.NewControlsStore(st).LoadControls(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || b == nil {
		return rev, nil
	}
	c, err := DecodeControls(b)
	if err != nil {
		t.Fatal(err)
	}
	return rev, c
}

// An instance that took a document pausing g with a 4 kW cap, restarted while NATS is down,
// holds g-0 paused and its floor at the 4 kW cap (one 3.5 kW miner runs, where the 11 kW floor
// alone would run three including g-0). Once NATS is back, the newer document written while it
// was away (g resumed, cap 8 kW) applies and becomes the kept copy.
func TestRestartWithoutNATSKeepsStoredControls(t *testing.T) {
	dir, path := t.TempDir(), filepath.Join(t.TempDir(), "b.db")
	srv := startNATS(t, filepath.Join(dir, "js"), "127.0.0.1:0")
	addr, url := srv.Addr().String(), srv.ClientURL()
	st := openStore(t, path)
	n, stop := keptNode(t, "ks1", url, st, &logBuf{})
	ctx := context.Background()
	waitFor(t, "the first run connected", func() bool { return n.Status().Connected })
	until := time.Now().Add(time.Hour)
	waitFor(t, "g paused and the cap set", func() bool {
		return n.PauseGroup(ctx, "g") == nil && n.SetCap(ctx, 4, until) == nil
	})
	var rev uint64
	waitFor(t, "the document kept in the store", func() bool {
		r, c := keptOf(t, st, "ks1")
		rev = r
		return c != nil && slices.Equal(c.PausedGroups, []string{"g"}) && c.Cap != nil && c.Cap.KW == 4
	})
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()

	// The restart: NATS is down.
	st = openStore(t, path)
	defer st.Close()
	logs := &logBuf{}
	n, _ = keptNode(t, "ks1", url, st, logs)
	waitFor(t, "the floor holding g-0 paused under the 4 kW cap", func() bool {
		run := runningOf(n)
		return n.Status().Role == RoleIsolated && len(run) == 1 && run[0] != "g-0"
	})
	m := isoRunner(n).Snapshot().Manual
	if m.CapKW != 4 || !slices.Equal(m.PausedGroups, []string{"g"}) {
		t.Fatalf("floor Runner's controls %+v, want g paused and a 4 kW cap", m)
	}
	if s := n.Status(); s.ControlsFrom != ControlsStored || s.ControlsRevision != rev || s.Connected {
		t.Fatalf("status %+v, want the stored document at revision %d, not connected", s, rev)
	}
	if !logs.has("site controls from the store until NATS answers") {
		t.Fatal("no log line for the stored document")
	}
	floorSteps(t, n)
	if run := runningOf(n); len(run) != 1 || run[0] == "g-0" {
		t.Fatalf("running on the floor: %v, want one miner, not g-0", run)
	}

	// NATS comes back (same address and store) and another instance writes a newer document.
	srv = startNATS(t, filepath.Join(dir, "js"), addr)
	_, js := connect(t, srv.ClientURL())
	kv, err := js.KeyValue(ctx, ControlsBucket("ks1"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, controlsKey)
	if err != nil || e.Revision() != rev {
		t.Fatalf("bucket after the restart: %v, revision want %d", err, rev)
	}
	body, _ := json.Marshal(Controls{V: 1, Cap: &CapControl{KW: 8, Until: until}})
	newer, err := kv.Update(ctx, controlsKey, body, rev)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the newer document applied", func() bool {
		r := activeRunner(n)
		if r == nil {
			return false
		}
		m := r.Snapshot().Manual
		s := n.Status()
		return s.ControlsFrom == ControlsNATS && s.ControlsRevision == newer && m.CapKW == 8 && len(m.PausedGroups) == 0
	})
	waitFor(t, "the newer document kept", func() bool {
		r, c := keptOf(t, st, "ks1")
		return r == newer && c != nil && len(c.PausedGroups) == 0 && c.Cap != nil && c.Cap.KW == 8
	})
}

// A bucket deleted and created again restarts its revisions at 1: the kept copy (revision 5,
// g paused) yields to NATS's document though its revision is lower, and to a bucket with no
// document at all, whose answer undoes the kept controls.
func TestKeptControlsYieldToRecreatedBucket(t *testing.T) {
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	_, js := connect(t, srv.ClientURL())
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ControlsBucket("ks2"), History: 1, Storage: jetstream.FileStorage,
		MaxValueSize: maxControls})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(Controls{V: 1, PausedGroups: []string{"x"}})
	if _, err := kv.Create(ctx, controlsKey, body); err != nil {
		t.Fatal(err)
	}
	kept, _ := json.Marshal(Controls{V: 1, PausedGroups: []string{"g"}})
	for _, site := range []string{"ks2", "ks3"} { // ks3's bucket holds no document
		st := openStore(t, filepath.Join(t.TempDir(), site+".db"))
		defer st.Close()
		if err := power.NewControlsStore(st).SaveControls(ctx, site, 5, kept); err != nil {
			t.Fatal(err)
		}
		n, _ := keptNode(t, site, srv.ClientURL(), st, &logBuf{})
		want := []string{"x"}
		if site == "ks3" {
			want = nil
		}
		waitFor(t, site+": NATS's document in force", func() bool {
			c, rev := n.Controls()
			s := n.Status()
			r := activeRunner(n)
			return s.ControlsFrom == ControlsNATS && rev == uint64(len(want)) && slices.Equal(c.PausedGroups, want) &&
				r != nil && slices.Equal(r.Snapshot().Manual.PausedGroups, want)
		})
		waitFor(t, site+": NATS's document kept", func() bool {
			rev, c := keptOf(t, st, site)
			if want == nil {
				return rev == 0 && c == nil
			}
			return rev == 1 && c != nil && slices.Equal(c.PausedGroups, want)
		})
	}
}

// A kept copy that does not parse, fails the document's checks or is of another version is
// ignored whole with a log line: the floor starts with no controls (the 11 kW floor runs
// three miners, g-0 among those it may pick) and nothing of the copy applies.
func TestCorruptKeptControlsIgnored(t *testing.T) {
	cases := []struct {
		name, detail, log string
	}{
		{"repeated group", `{"revision":3,"controls":{"v":1,"paused_groups":["g","g"],"cap":{"kw":4,"until":"2100-01-01T00:00:00Z"}}}`, "kept site controls ignored; none apply until NATS answers"},
		{"other version", `{"revision":3,"controls":{"v":2,"paused_groups":["g"]}}`, "kept site controls ignored; none apply until NATS answers"},
		{"not a document", `{"revision":3,"controls":"{\"v\":1,\"paused_groups\":[\"g\"]"}`, "kept site controls ignored; none apply until NATS answers"},
		{"record garbled", `{"revision":"three","controls":{"v":1,"paused_groups":["g"]}}`, "kept site controls not read; none apply until NATS answers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
			defer st.Close()
			if _, err := st.RecordEvent(context.Background(), store.Event{Time: time.Now(), Kind: power.KindSiteControls, Subject: "kc",
				Detail: json.RawMessage(c.detail)}); err != nil {
				t.Fatal(err)
			}
			logs := &logBuf{}
			n, _ := keptNode(t, "kc", deadURL(t), st, logs)
			waitFor(t, "the floor running three miners", func() bool {
				return n.Status().Role == RoleIsolated && len(runningOf(n)) == 3
			})
			if !logs.has(c.log) {
				t.Fatalf("no log line %q", c.log)
			}
			m := isoRunner(n).Snapshot().Manual
			if len(m.PausedGroups) != 0 || !m.CapUntil.IsZero() {
				t.Fatalf("floor Runner's controls %+v from a corrupt copy", m)
			}
			if s := n.Status(); s.ControlsFrom != ControlsNone || s.ControlsRevision != 0 {
				t.Fatalf("status %+v after a corrupt copy", s)
			}
		})
	}
}

// The kept copy is an audit event, pruned past the store's retention: one nobody changed is
// written again once a day, so the next start still finds it.
func TestKeptControlsRewrittenDaily(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "d.db"))
	defer st.Close()
	clk := clock.NewManual(time.Now())
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "kd", "b", deadURL(t)
	n, err := New(cc, Options{Policy: sitePolicy(1000), Controls: power.NewControlsStore(st), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.keepControls(ctx) }()
	defer func() { cancel(); <-done }()
	count := func() int {
		evs, err := st.Events(context.Background(), store.EventQuery{Kind: power.KindSiteControls})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	body, _ := json.Marshal(Controls{V: 1, PausedGroups: []string{"g"}})
	n.takeControls(7, body, false)
	waitFor(t, "the document kept", func() bool { return count() == 1 })
	n.takeControls(7, body, false) // the same revision again (a new watch): not written again
	for range 23 {
		clk.Advance(time.Hour)
	}
	waitFor(t, "the hourly checks seen", func() bool { return clk.Pending() > 0 })
	if k := count(); k != 1 {
		t.Fatalf("%d copies within a day, want 1", k)
	}
	waitFor(t, "the copy written again after a day", func() bool {
		clk.Advance(time.Hour)
		time.Sleep(10 * time.Millisecond)
		return count() >= 2
	})
	if rev, c := keptOf(t, st, "kd"); rev != 7 || c == nil || !slices.Equal(c.PausedGroups, []string{"g"}) {
		t.Fatalf("kept %d %+v after the rewrite", rev, c)
	}
}
