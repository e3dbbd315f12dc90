package app

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/store"
)

// TestMissedMeterPollDoesNotShed: one unreachable poll (a Modbus timeout) is not garbage;
// only staleness should move the fleet to the safe floor. A garbage reading still does.
func TestMissedMeterPollDoesNotShed(t *testing.T) {
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "feed.db")
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW = 1000, 10
	pc.StaleAfter = policy.Duration(time.Minute)
	var pauses atomic.Int64
	r, err := policy.NewRunner(pc, policy.RunnerOptions{Actuator: policy.ActuatorFunc(func(_ context.Context, d policy.Decision) error {
		if d.Action == policy.ActionPause {
			pauses.Add(1)
		}
		return nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	for k := 0; k < 10; k++ {
		m := g.NewMiner(fmt.Sprintf("w%d", k), fmt.Sprintf("w%d", k))
		m.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: time.Now().Add(-time.Hour)}
		r.UpsertMiner(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 500, At: time.Now()})
	go r.Run(ctx)
	p := &Power{runner: r, st: st, meters: map[string]*meterState{"grid": {readings: map[string]uint64{}}}, log: zerolog.Nop()}
	in := make(chan meter.Reading, 4)
	go p.feed(ctx, in)
	steps := func() uint64 { return r.Snapshot().Steps }
	send := func(q meter.Quality, v float64) {
		before := steps()
		in <- meter.Reading{Meter: "grid", Role: meter.RoleSiteImport, Value: v, At: time.Now(), Quality: q}
		waitFor(t, "a policy step", func() bool { return steps() > before })
	}
	send(meter.QualityGood, 500)
	send(meter.QualityUnavailable, 0)
	before := steps()
	waitFor(t, "more steps", func() bool { return steps() > before+2 })
	if n := pauses.Load(); n != 0 {
		t.Fatalf("one missed poll paused %d miners", n)
	}
	send(meter.QualityInvalid, 0)
	waitFor(t, "garbage from the meter to shed to the safe floor", func() bool { return pauses.Load() == 10 })
}
