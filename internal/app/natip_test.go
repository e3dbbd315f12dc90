package app

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestWorkersSharingAnIPAreGatedNotCommanded: two workers behind one IP (NAT) without
// configured addresses must not have firmware commands sent to that IP (they could reach
// another machine); the gate still pauses them.
func TestWorkersSharingAnIPAreGatedNotCommanded(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(200 * time.Millisecond)
	f.Policy = &p
	f.Fleet = []policy.FleetGroup{{Name: "nat", Pattern: "nat.*", Firmware: "luxos", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1, Port: 1}}
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source = "grid", meter.RoleSiteImport, meter.KindSim
	m.Trace, m.Loop, m.Interval = []meter.TracePoint{{Offset: 0, Value: 100}}, true, meter.Duration(100*time.Millisecond)
	f.Meter = []meter.Config{m.WithDefaults()}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, w := range []string{"nat.a", "nat.b"} {
		go miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: w, HashRate: 50000}).Run(ctx)
	}
	waitFor(t, "both miners known to the policy", func() bool { return len(a.Power.Runner().Snapshot().Miners) == 2 })
	a.Power.Runner().SetCap(0.1, time.Now().Add(time.Hour)) // shed everything
	waitFor(t, "both miners paused at the gate", func() bool { return a.Proxy.Status().Paused == 2 })
	if res := a.Power.firmwareResults(); len(res) != 0 {
		t.Fatalf("firmware commands were sent to a shared IP: %+v", res)
	}
}
