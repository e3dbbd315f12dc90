package power

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
)

// TestOfflineListsDisconnectedUntilTTL: a fleet worker that disconnects is listed offline
// with its group and the time it went, a connected one and one matching no group are not;
// past offline_ttl it is forgotten and no longer listed. The proxy's clock is the rig's, so
// the whole test stays within the 15 minutes after which the proxy closes a miner that sends
// nothing: "rack.stay" must still be connected at the end.
func TestOfflineListsDisconnectedUntilTTL(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OfflineTTL = tomltime.Duration(5 * time.Minute)
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{cfg: cfg, policy: &pc, fleet: []policy.FleetGroup{
		{Name: "rack", Pattern: "rack.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1},
	}})
	gone := connect(t, r.addr, []string{"rack.gone", "stray.gone"})
	stay := connect(t, r.addr, []string{"rack.stay"})
	defer hangUp(stay)
	waitFor(t, "three workers connected", func() bool { return len(r.px.Identities()) == 3 })
	r.advance(time.Second)
	if off := r.c.Offline(); len(off) != 0 {
		t.Fatalf("offline while all are connected: %+v", off)
	}
	hangUp(gone)
	waitFor(t, "two gone", func() bool { return len(r.px.Identities()) == 1 })
	r.advance(time.Second)
	wentAt := r.clk.Now()
	r.advance(time.Minute)
	off := r.c.Offline()
	if len(off) != 1 || off[0].Worker != "rack.gone" || off[0].Group != "rack" || !off[0].Since.Equal(wentAt) || off[0].Holds != 0 {
		t.Fatalf("offline after the hang-up: %+v (went at %v)", off, wentAt)
	}
	r.advance(cfg.OfflineTTL.D())
	if off := r.c.Offline(); len(off) != 0 {
		t.Fatalf("offline past offline_ttl: %+v", off)
	}
}
