package cluster

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// A peer on the site's subjects that sends what it should not gets a clear answer (or is
// counted and logged) and changes nothing; the instance keeps leading and answering.
func TestNodeRefusesHostileOrders(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	// The lone instance leads throughout on a 20 s lease: a loaded box stalled its 2 s
	// renewals past their deadline (-race -cpu 1, the whole package), a took a new term and
	// the checks below read another epoch, or no Runner at all.
	const lease, stale = 20 * time.Second, 60 * time.Second
	// Earlier leases leave the bucket's revision above 1, so an older epoch exists.
	_, js := connect(t, srv.ClientURL())
	warm, err := OpenLease(context.Background(), js, "site1", "earlier", lease, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ok, err := warm.TryAcquire(context.Background()); !ok || err != nil {
			t.Fatalf("warm-up lease: %v %v", ok, err)
		}
		if err := warm.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s := newSite(t, 1)
	g := policy.FleetGroup{Name: "a", Pattern: "a-*", Firmware: policy.FirmwareBitaxe, RatedKW: 3.5, EfficiencyJTH: 17.5}
	in := startKept(t, s, startPool(t), keptSpec{name: "a", groups: []policy.FleetGroup{g}, rack: newRack(t, s, "a-0"),
		miners: []string{"a-0"}, relay: newRelay(t, srv.Addr().String()), pc: sitePolicy(100), lease: lease, stale: stale}).instance
	waitFor(t, "the lone instance leading with its miner known", func() bool {
		st := in.node.Status()
		return st.Role == RoleLeader && len(st.Instances) == 1 && st.Instances[0].Miners == 1
	})
	epoch := in.node.Status().Epoch
	nc, _ := connect(t, srv.ClientURL())
	ask := func(subj string, body []byte) Reply {
		t.Helper()
		msg, err := nc.Request(subj, body, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		var r Reply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	order := func(epoch uint64, miner, action string) []byte {
		b, _ := json.Marshal(map[string]any{"epoch": epoch, "leader": "intruder", "timeout_ms": 5000,
			"decision": map[string]any{"miner": miner, "action": action, "target_kw": 0, "from_kw": 3.5, "reason": "import_limit"}})
		return b
	}
	cmd := "hashgate.site1.cmd.a"
	cases := []struct {
		name, subj string
		body       []byte
		want       string
	}{
		{"an order below the highest epoch", cmd, order(epoch-1, "a-0", "pause"), ErrStaleEpoch.Error()},
		{"an order for a miner it does not own", cmd, order(epoch, "ghost-7", "pause"), ErrNotOwner.Error()},
		{"an order that is not JSON", cmd, []byte("pause everything"), ErrBadMessage.Error()},
		{"an order with an unknown action", cmd, order(epoch, "a-0", "overclock"), ErrBadMessage.Error()},
		{"an order with epoch 0", cmd, order(0, "a-0", "pause"), ErrBadMessage.Error()},
		{"an order of 2 MiB", cmd, append([]byte(`{"pad":"`), []byte(strings.Repeat("x", 900<<10))...), ErrBadMessage.Error()},
	}
	for _, c := range cases {
		if r := ask(c.subj, c.body); !strings.Contains(r.Err, c.want) {
			t.Errorf("%s: reply %+v, want %q", c.name, r, c.want)
		}
	}
	if in.sleeping() != 0 {
		t.Fatal("a refused order reached the firmware")
	}
	// Garbage on the broadcast subjects is counted and dropped.
	before := in.node.Status().BadMessages
	for _, subj := range []string{"hashgate.site1.inv.x", "hashgate.site1.power.x", "hashgate.site1.meter.x", "hashgate.site1.leader", "hashgate.site1.plan.a"} {
		if err := nc.Publish(subj, []byte(`{"instance":"x","seq":1`)); err != nil {
			t.Fatal(err)
		}
	}
	// An inventory claiming a miner with a NaN-free but absurd rating is refused whole.
	nc.Publish("hashgate.site1.inv.x", []byte(`{"instance":"x","boot":1,"seq":1,"miners":[{"id":"x-0","group":"g","rated_kw":5e6,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`))
	// Another process using this instance's name cannot claim its miners.
	nc.Publish("hashgate.site1.inv.a", []byte(`{"instance":"a","boot":42,"seq":1,"full":true,"snap":1,"parts":1,"miners":[{"id":"a-0","group":"g","rated_kw":99,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`))
	nc.Flush()
	waitFor(t, "seven bad messages counted", func() bool { return in.node.Status().BadMessages >= before+7 })
	r := in.node.Runner()
	if r == nil {
		t.Fatalf("a no longer leads after the hostile messages: %+v", in.node.Status())
	}
	for _, m := range r.Snapshot().Miners {
		if m.ID == "a-0" && m.RatedKW != 3.5 {
			t.Fatalf("an impostor's inventory replaced a-0: %+v", m.Miner)
		}
	}
	st := in.node.Status()
	if st.Role != RoleLeader || st.Epoch != epoch || len(st.Instances) != 1 {
		t.Fatalf("hostile messages changed the site: %+v", st)
	}
	// A real order at the current epoch is still carried out.
	if r := ask(cmd, order(epoch, "a-0", "pause")); r.Err != "" {
		t.Fatalf("a valid order failed: %s", r.Err)
	}
	waitFor(t, "the ordered miner asleep", func() bool { return in.sleeping() == 1 })
}

// An instance that cannot reach NATS from its start isolates itself after stale_after and
// puts its miners to its floor; once NATS is reachable it takes the lease and restores them.
func TestNodeWithoutNATSFromStartHoldsItsFloor(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	r := newRelay(t, srv.Addr().String())
	r.setCut(true)
	s := newSite(t, 1)
	in := startInstanceVia(t, s, "a", startPool(t), r, 2, sitePolicy(100))
	waitFor(t, "isolated without NATS", func() bool { return in.role() == RoleIsolated })
	waitFor(t, "its miners at the floor", func() bool { return in.sleeping() == 2 })
	r.setCut(false)
	waitFor(t, "leading once NATS is reachable", func() bool { return in.role() == RoleLeader })
	waitFor(t, "its miners restored", func() bool { return in.sleeping() == 0 })
	checkFencing(t, []*instance{in})
}

// Orders beyond maxOrders in flight (a firmware that never answers) are refused as busy at
// once instead of piling up goroutines.
func TestOrdersBeyondTheBoundAreBusy(t *testing.T) {
	srv, err := StartEmbedded(EmbedOptions{Name: "h", Listen: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	s := newSite(t, 1)
	in := startInstance(t, s, "a", startPool(t), srv.Addr().String(), 1, sitePolicy(100))
	waitFor(t, "leading with its miner known", func() bool {
		st := in.node.Status()
		return st.Role == RoleLeader && len(st.Instances) == 1 && st.Instances[0].Miners == 1
	})
	in.fw[0].SetFaults(simfw.FaultStall)
	epoch := in.node.Status().Epoch
	nc, _ := connect(t, srv.ClientURL())
	body, _ := json.Marshal(map[string]any{"epoch": epoch, "leader": "a", "timeout_ms": 3000,
		"decision": map[string]any{"miner": "a-0", "action": "pause", "target_kw": 0, "from_kw": 3.5, "reason": "import_limit"}})
	replies := make(chan string, maxOrders+50)
	for range maxOrders + 50 {
		go func() {
			msg, err := nc.Request("hashgate.site1.cmd.a", body, 60*time.Second)
			if err != nil {
				replies <- err.Error()
				return
			}
			var r Reply
			json.Unmarshal(msg.Data, &r)
			replies <- r.Err
		}()
	}
	busy := 0
	for range maxOrders + 50 {
		if strings.Contains(<-replies, ErrBusy.Error()) {
			busy++
		}
	}
	// At least the 50 beyond the bound are busy. The node's own Runner sends this leader's
	// orders through the same bound, so it may have taken slots too (and been refused and
	// counted as well): the counter holds every busy reply, ours and the Runner's.
	if counted := in.node.Status().Busy; busy < 50 || counted < uint64(busy) {
		t.Fatalf("%d busy replies, %d counted", busy, counted)
	}
}
