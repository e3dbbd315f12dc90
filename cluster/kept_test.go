package cluster

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
	simminer "github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/store"
)

// The tests below run instances whose miners, groups and store the test chooses, so an
// instance can be restarted on the same store and the same simulated miners (their firmware
// keeps sleeping across the restart, as real hardware does), and an isolated instance can
// hold miners of a group paused site-wide beside others.

// rack is simulated Bitaxe miners by worker name, with their firmware API addresses; they
// outlive the instances that control them.
type rack struct {
	fw    map[string]*simfw.Miner
	addrs map[string]string
}

func newRack(t *testing.T, s *site, names ...string) *rack {
	t.Helper()
	r := &rack{fw: map[string]*simfw.Miner{}, addrs: map[string]string{}}
	for _, name := range names {
		mc := simfw.DefaultMinerConfig()
		mc.RampDown, mc.RampUp = 100*time.Millisecond, 100*time.Millisecond
		fm, err := simfw.NewMiner(mc, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := simfw.NewBitaxe(fm, zerolog.Nop())
		a, err := b.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		r.fw[name], r.addrs[name] = fm, a.String()
		s.mu.Lock()
		s.miners = append(s.miners, fm)
		s.mu.Unlock()
	}
	return r
}

// kw is what the named miners draw together.
func (r *rack) kw(names ...string) float64 {
	kw := 0.0
	for _, n := range names {
		kw += r.fw[n].State().PowerW / 1000
	}
	return kw
}

// asleep reports whether the named miner's firmware sleeps.
func (r *rack) asleep(name string) bool { return r.fw[name].State().Sleeping }

// keptSpec is one run of an instance.
type keptSpec struct {
	name    string
	groups  []policy.FleetGroup // Addresses are filled from the rack
	rack    *rack
	miners  []string // worker names, in the rack
	store   string   // SQLite path; "" keeps none
	relay   *relay
	pc      policy.Config
	floorKW float64
	// lease and stale are lease_ttl and stale_after (2 s and 5 s when zero). A test that needs
	// one leader throughout gives it a lease a stalled box cannot lapse.
	lease, stale time.Duration
}

// kept is a running instance with its proxy and store.
type kept struct {
	*instance
	px *proxy.Proxy
	st *store.Store
}

// startKept runs one instance as spec says: proxy, simulated Stratum miners, a Controller
// (restoring from the store, when there is one) fed into a Node that records its own
// commands there.
func startKept(t *testing.T, s *site, poolAddr string, spec keptSpec) *kept {
	t.Helper()
	in := &instance{name: spec.name, logs: &logBuf{}, relay: spec.relay}
	log := zerolog.New(in.logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	pxc := proxy.DefaultConfig()
	pxc.Pools = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://" + poolAddr, User: "acct"}}
	pxc.Difficulty = proxy.DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 60, RetargetEvery: proxy.Duration(time.Minute)}
	px, err := proxy.New(pxc, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	px.Start(ctx)
	addr, err := px.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]policy.FleetGroup, len(spec.groups))
	for i, g := range spec.groups {
		g.Addresses = map[string]string{}
		for _, m := range spec.miners {
			g.Addresses[m] = spec.rack.addrs[m]
		}
		groups[i] = g
	}
	for _, m := range spec.miners {
		in.fw = append(in.fw, spec.rack.fw[m])
	}
	var st *store.Store
	var rec policy.Audit
	if spec.store != "" {
		sc := store.DefaultConfig()
		sc.Path, sc.PruneInterval = spec.store, 0
		if st, err = store.Open(ctx, sc, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		rec = power.NewAudit(st)
	}
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "site1", spec.name, spec.relay.url()
	cc.LeaseTTL, cc.StaleAfter = Duration(2*time.Second), Duration(5*time.Second)
	if spec.lease != 0 {
		cc.LeaseTTL, cc.StaleAfter = Duration(spec.lease), Duration(spec.stale)
	}
	cc.SafeFloorKW = spec.floorKW
	node, err := New(cc, Options{Policy: spec.pc, Audit: rec, Record: rec, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	in.node = node
	mc := meter.Config{Name: "grid", Role: meter.RoleSiteImport, Source: meter.KindHTTP, URL: s.url, Unit: "kW",
		Interval: meter.Duration(100 * time.Millisecond), Format: meter.FormatNumber}.WithDefaults()
	powc := power.DefaultConfig()
	powc.TelemetryInterval = tomltime.Duration(500 * time.Millisecond)
	pc := spec.pc
	ctl, err := power.New(ctx, powc, power.Options{Policy: &pc, Fleet: groups, Meters: []meter.Config{mc}, Proxy: px, Store: st, Sink: node, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	in.ctl = ctl
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ctl.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := node.Run(ctx, ctl); err != nil {
			t.Error(err)
		}
	}()
	for _, name := range spec.miners {
		m := simminer.New(simminer.Config{Addr: addr.String(), Username: name, HashRate: 1000})
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(ctx)
		}()
	}
	in.cancel = func() {
		cancel()
		wg.Wait()
		px.Close()
		if st != nil {
			st.Close()
		}
	}
	t.Cleanup(in.stop)
	return &kept{instance: in, px: px, st: st}
}

// workers are the instance's connected workers by name, with their state.
func (k *kept) workers() map[string]string {
	out := map[string]string{}
	for _, w := range k.px.Workers() {
		out[w.Worker] = w.State
	}
	return out
}

// storedPauses counts the miners whose last stored state is a pause.
func (k *kept) storedPauses(t *testing.T) int {
	last, err := k.st.LastStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range last {
		if s.Action == policy.ActionPause.String() {
			n++
		}
	}
	return n
}

// leaderMiners is what the site Runner of in holds of every miner; none while in does not
// lead.
func leaderMiners(in *kept) []policy.MinerStatus {
	r := in.node.Runner()
	if r == nil {
		return nil
	}
	return r.Snapshot().Miners
}

// leaderCommanded is what the site Runner of in holds as id's command.
func leaderCommanded(in *kept, id string) policy.Action {
	for _, m := range leaderMiners(in) {
		if m.ID == id {
			return m.Commanded.Action
		}
	}
	return policy.ActionUnknown
}

// invWatch keeps the commanded action of every miner an instance's inventory reports.
type invWatch struct {
	mu  sync.Mutex
	cmd map[string]policy.Action
	gen uint64
}

func subscribeInventory(t *testing.T, url, inst string) *invWatch {
	t.Helper()
	nc, _ := connect(t, url)
	w := &invWatch{cmd: map[string]policy.Action{}}
	if _, err := nc.Subscribe("hashgate.site1.inv."+inst, func(msg *nats.Msg) {
		inv, err := DecodeInventory(msg.Data)
		if err != nil {
			t.Errorf("inventory: %v", err)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.gen = inv.Gen
		for _, m := range inv.Miners {
			w.cmd[m.ID] = policy.Action(m.Commanded.Action)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *invWatch) latest() (map[string]policy.Action, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]policy.Action{}
	for k, v := range w.cmd {
		out[k] = v
	}
	return out, w.gen
}

// watchAwake samples the named miners' firmware every 20 ms and reports, when stopped, the
// ones it saw awake.
func watchAwake(r *rack, names ...string) (stop func() []string) {
	seen := map[string]bool{}
	end := ticking(20*time.Millisecond, func(time.Time) {
		for _, n := range names {
			if !r.asleep(n) {
				seen[n] = true
			}
		}
	})
	return func() []string {
		end()
		var out []string
		for n := range seen {
			out = append(out, n)
		}
		return out
	}
}

// A clustered instance restarted on its store keeps the miners the site shed shed: its
// Controller restores their last commanded states (recorded by the owner for another
// leader's orders) and closes their gates from their first connection, its inventory says
// they are paused, the leader's Runner takes that as the truth, and nothing wakes them,
// neither while the restarted instance has not yet heard the leader nor after. The site
// stays under its limit throughout.
func TestClusterRestartKeepsShedMinersShed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	const limit = 20
	s := newSite(t, 0)
	poolAddr := startPool(t)
	pc := sitePolicy(limit)
	r := newRack(t, s, "a-0", "a-1", "b-0", "b-1")
	ga := policy.FleetGroup{Name: "a", Pattern: "a-*", Firmware: policy.FirmwareBitaxe, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	gb := policy.FleetGroup{Name: "b", Pattern: "b-*", Firmware: policy.FirmwareBitaxe, RatedKW: 3.5, EfficiencyJTH: 17.5}
	// An 8 s lease: with the 2 s of the other tests a box stalled by the whole suite lapsed
	// a's lease before the shed, and b led it.
	const lease, stale = 8 * time.Second, 20 * time.Second
	a := startKept(t, s, poolAddr, keptSpec{name: "a", groups: []policy.FleetGroup{ga}, rack: r, miners: []string{"a-0", "a-1"},
		relay: newRelay(t, srv.Addr().String()), pc: pc, lease: lease, stale: stale})
	waitFor(t, "a leading", func() bool { return a.role() == RoleLeader })
	bSpec := keptSpec{name: "b", groups: []policy.FleetGroup{gb}, rack: r, miners: []string{"b-0", "b-1"},
		store: filepath.Join(t.TempDir(), "b.db"), relay: newRelay(t, srv.Addr().String()), pc: pc, lease: lease, stale: stale}
	b := startKept(t, s, poolAddr, bSpec)
	t.Cleanup(func() {
		if t.Failed() {
			for _, in := range []*kept{a, b} {
				in.logs.mu.Lock()
				t.Logf("%s:\n%s", in.name, in.logs.b.String())
				in.logs.mu.Unlock()
				if r := in.node.Runner(); r != nil {
					for _, d := range r.Snapshot().Recent {
						t.Logf("%s decided %v", in.name, d)
					}
				}
			}
		}
	})
	waitFor(t, "every miner proven in a's Runner", func() bool {
		n := 0
		for _, m := range leaderMiners(a) {
			if m.Proven {
				n++
			}
		}
		return n == 4
	})
	// The shed must start from every miner running as a's Runner commanded, none with an
	// order in flight and every run past its settle window (the miner's ramp, at most
	// confirm_after): a Runner sheds a miner whose latest command is still settling only
	// after every other, so a shed inside b's runs' windows (b's miners are adopted last,
	// and a loaded box brings the shed closer to them) pauses a's miners in their place,
	// and the site, then under its limit, rightly keeps that split for good.
	waitFor(t, "every miner running as a's Runner commanded, its run settled", func() bool {
		st := leaderMiners(a)
		if len(st) != 4 {
			return false
		}
		for _, m := range st {
			if m.Commanded.Action != policy.ActionRun || m.Inflight || m.Pending || m.Commanded.Pending || r.asleep(m.ID) {
				return false
			}
			settle := pc.ConfirmAfter.D()
			if m.Ramp > 0 {
				settle = min(settle, m.Ramp)
			}
			if !m.Commanded.Changed.IsZero() && time.Since(m.Commanded.Changed) < settle {
				return false
			}
		}
		return true
	})
	// 11 kW of other load leaves 8.5 kW (0.5 margin): two 3.5 kW miners, group a's (b sheds first).
	s.setBase(11)
	// Sleeping is set when the firmware takes the command; its draw ramps down after it.
	shedShown := time.Now()
	waitFor(t, "b's miners shed by a's policy, a's running, the site under its limit", func() bool {
		if time.Since(shedShown) > 5*time.Second {
			shedShown = time.Now()
			sa, sb := a.node.Status(), b.node.Status()
			t.Logf("a: %v (leader %q, epoch %d); b: %v; asleep a-0 %v a-1 %v b-0 %v b-1 %v; import %.1f kW; a commands a-0 %v a-1 %v b-0 %v b-1 %v",
				sa.Role, sa.Leader, sa.Epoch, sb.Role, r.asleep("a-0"), r.asleep("a-1"), r.asleep("b-0"), r.asleep("b-1"), s.importKW(),
				leaderCommanded(a, "a-0"), leaderCommanded(a, "a-1"), leaderCommanded(a, "b-0"), leaderCommanded(a, "b-1"))
		}
		return r.asleep("b-0") && r.asleep("b-1") && !r.asleep("a-0") && !r.asleep("a-1") && b.role() == RoleFollower &&
			s.importKW() <= limit
	})
	// b keeps the pauses a ordered in its own store, as decided and as carried out.
	waitFor(t, "b's store holding its miners' pauses", func() bool { return b.storedPauses(t) == 2 })
	b.stop()

	over := watchLimit(s, limit)
	awake := watchAwake(r, "b-0", "b-1")
	// b runs again on the same store, not reaching NATS yet: nothing can decide its miners.
	bSpec.relay = newRelay(t, srv.Addr().String())
	bSpec.relay.setCut(true)
	inv := subscribeInventory(t, srv.ClientURL(), "b")
	b = startKept(t, s, poolAddr, bSpec)
	for _, w := range []string{"b-0", "b-1"} {
		if h := b.ctl.Holds(w); h&power.HoldRestart == 0 {
			t.Fatalf("%s restarted without its restart hold: %v", w, h)
		}
	}
	// Named and past connecting: a session still subscribing is listed without its name.
	waitFor(t, "b's miners connected again", func() bool {
		ws := b.workers()
		return ws["b-0"] != "" && ws["b-0"] != "connecting" && ws["b-1"] != "" && ws["b-1"] != "connecting"
	})
	if ws := b.workers(); ws["b-0"] != "paused" || ws["b-1"] != "paused" {
		t.Fatalf("b's workers after the restart, before any leader: %v", ws)
	}
	bSpec.relay.setCut(false)
	waitFor(t, "b's inventory of a new run saying its miners are paused", func() bool {
		m, g := inv.latest()
		return m["b-0"] == policy.ActionPause && m["b-1"] == policy.ActionPause && g != 0
	})
	// a leads with an 8 s lease: a box stalled past it (the whole suite at once) may still
	// hand the lease to b once b is back. Either may lead; what counts is that the one leading takes
	// b's miners as paused and the other follows it.
	var lead *kept
	shown := time.Now()
	waitFor(t, "one instance leading, the other following it, the leader's Runner holding b's miners paused", func() bool {
		lead = nil
		for _, in := range []*kept{a, b} {
			if in.role() == RoleLeader {
				lead = in
			}
		}
		if time.Since(shown) > 5*time.Second {
			shown = time.Now()
			sa, sb := a.node.Status(), b.node.Status()
			t.Logf("a: %v (leader %q, epoch %d); b: %v (leader %q, epoch %d); a commands b-0 %v b-1 %v; b commands b-0 %v b-1 %v",
				sa.Role, sa.Leader, sa.Epoch, sb.Role, sb.Leader, sb.Epoch,
				leaderCommanded(a, "b-0"), leaderCommanded(a, "b-1"), leaderCommanded(b, "b-0"), leaderCommanded(b, "b-1"))
		}
		if lead == nil {
			return false
		}
		other := a
		if lead == a {
			other = b
		}
		if st := other.node.Status(); st.Role != RoleFollower || st.Leader != lead.name {
			return false
		}
		return leaderCommanded(lead, "b-0") == policy.ActionPause && leaderCommanded(lead, "b-1") == policy.ActionPause
	})
	var steps uint64
	if r := lead.node.Runner(); r != nil {
		steps = r.Snapshot().Steps
	}
	waitFor(t, "ten more steps of the site's policy", func() bool {
		r := lead.node.Runner()
		return r != nil && r.Snapshot().Steps >= steps+10
	})
	if woke := awake(); len(woke) > 0 {
		t.Errorf("shed miners woke after b's restart: %v", woke)
	}
	if worst, at := over(); worst > 0 {
		t.Errorf("site above its limit for %v from %v", worst, at)
	}
	if !r.asleep("b-0") || !r.asleep("b-1") || r.asleep("a-0") || r.asleep("a-1") {
		t.Error("the site's split changed across b's restart")
	}
}

// isoRunner is the instance's isolation Runner, nil while it runs none.
func isoRunner(n *Node) *policy.Runner {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.iso == nil {
		return nil
	}
	return n.iso.r
}

// floorSteps waits until n is isolated and its floor Runner, past the start-up wait for a
// site meter (stale_after, in which it changes nothing), has decided ten steps at its floor.
func floorSteps(t *testing.T, n *Node) {
	t.Helper()
	var from uint64
	waitFor(t, "the instance isolated, its floor Runner at the safe floor", func() bool {
		r := isoRunner(n)
		if r == nil || r.Basis().Mode != policy.ModeSafeFloor {
			return false
		}
		from = r.Snapshot().Steps
		return true
	})
	waitFor(t, "ten steps of the floor Runner", func() bool {
		r := isoRunner(n)
		return r != nil && r.Snapshot().Steps >= from+10
	})
}

// floorSite runs instance a (a-0, group a) leading and instance b (b-0 and b-1 of group b,
// p-0 of group p, first to run by priority) with safe_floor_kw 11, under a 30 kW limit: all
// four miners run.
func floorSite(t *testing.T) (*Embedded, *rack, *kept, *kept) {
	t.Helper()
	srv := startNATS(t, filepath.Join(t.TempDir(), "js"), "127.0.0.1:0")
	s := newSite(t, 0)
	poolAddr := startPool(t)
	pc := sitePolicy(30)
	r := newRack(t, s, "a-0", "b-0", "b-1", "p-0")
	g := func(name string, prio int) policy.FleetGroup {
		return policy.FleetGroup{Name: name, Pattern: name + "-*", Firmware: policy.FirmwareBitaxe, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: prio}
	}
	a := startKept(t, s, poolAddr, keptSpec{name: "a", groups: []policy.FleetGroup{g("a", 1)}, rack: r, miners: []string{"a-0"},
		relay: newRelay(t, srv.Addr().String()), pc: pc})
	waitFor(t, "a leading", func() bool { return a.role() == RoleLeader })
	b := startKept(t, s, poolAddr, keptSpec{name: "b", groups: []policy.FleetGroup{g("b", 0), g("p", 5)}, rack: r,
		miners: []string{"b-0", "b-1", "p-0"}, relay: newRelay(t, srv.Addr().String()), pc: pc, floorKW: 11})
	waitFor(t, "every miner proven in a's Runner and running", func() bool {
		n := 0
		for _, m := range leaderMiners(a) {
			if m.Proven {
				n++
			}
		}
		return n == 4 && b.role() == RoleFollower && !r.asleep("a-0") && !r.asleep("b-0") && !r.asleep("b-1") && !r.asleep("p-0")
	})
	return srv, r, a, b
}

// watchKW samples what the named miners draw together every 20 ms and reports the most,
// in kW, when stopped.
func watchKW(r *rack, names ...string) (stop func() float64) {
	most := 0.0
	end := ticking(20*time.Millisecond, func(time.Time) { most = max(most, r.kw(names...)) })
	return func() float64 {
		end()
		return most
	}
}

// A group paused site-wide stays paused on the floor of an instance cut from NATS: its
// isolation Runner applies the site controls it last saw. Without them the floor (11 kW) has
// room for p-0 and its priority would restart it first.
func TestIsolatedFloorKeepsPausedGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	_, r, a, b := floorSite(t)
	if err := a.ctl.PauseGroup(context.Background(), "alice", "p"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "p-0 paused by the site, b holding the controls", func() bool {
		c, _ := b.node.Controls()
		return r.asleep("p-0") && len(c.PausedGroups) == 1 && c.PausedGroups[0] == "p"
	})
	awake := watchAwake(r, "p-0")
	most := watchKW(r, "b-0", "b-1", "p-0")
	b.relay.setCut(true)
	floorSteps(t, b.node)
	if woke := awake(); len(woke) > 0 {
		t.Errorf("the paused group's miner woke on the floor: %v", woke)
	}
	if kw := most(); kw > 11 {
		t.Errorf("b's miners drew %.2f kW, above the 11 kW floor", kw)
	}
	if r.asleep("b-0") || r.asleep("b-1") {
		t.Error("group b's miners (7 kW under the 11 kW floor) shed on the floor")
	}
}

// An operator cap below safe_floor_kw lowers an isolated instance's floor to the cap: the
// cap (4 kW) lets one 3.5 kW miner run where the floor (11 kW) alone would run three.
func TestIsolatedFloorKeepsLowerCap(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	_, r, a, b := floorSite(t)
	if err := a.ctl.SetCap(context.Background(), "alice", 4, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three of four miners asleep under the cap, b holding it", func() bool {
		c, _ := b.node.Controls()
		n := 0
		for _, m := range []string{"a-0", "b-0", "b-1", "p-0"} {
			if r.asleep(m) {
				n++
			}
		}
		return n == 3 && c.Cap != nil && c.Cap.KW == 4 && r.kw("b-0", "b-1", "p-0") <= 4 // ramped down
	})
	most := watchKW(r, "b-0", "b-1", "p-0")
	b.relay.setCut(true)
	floorSteps(t, b.node)
	if kw := most(); kw > 4 {
		t.Errorf("b's miners drew %.2f kW on the floor, above the 4 kW cap", kw)
	}
}
