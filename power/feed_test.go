package power

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/store"
)

// TestBlockedStoreDoesNotDelayReadings: the database is locked by another connection holding
// an open write transaction, so the energy writer waits in SQLite's busy handler. Ten more
// minutes of readings still reach the Runner at once; the energy queue keeps what it can hold
// and counts what it drops, and the writer stores what was queued once the lock is released.
func TestBlockedStoreDoesNotDelayReadings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashgate.db")
	sc := store.DefaultConfig()
	sc.Path, sc.PruneInterval, sc.BusyTimeout = path, 0, 10*time.Minute
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewManual(epoch)
	pc := testPolicy()
	cfg := DefaultConfig()
	cfg.EnergyQueue = 2
	px, _ := startProxy(t, deadAddr(t), clk)
	c, err := New(context.Background(), cfg, Options{Policy: &pc, Proxy: px, Store: st, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runnerDone, writerDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(runnerDone); c.runner.Run(ctx) }()
	go func() { defer close(writerDone); c.writeEnergy(ctx) }()

	// Another connection takes the write lock and keeps its transaction open.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	energy := newEnergyLedger(time.Minute, clk.Now())
	value := 100.0
	feed := func(d time.Duration) {
		for end := clk.Now().Add(d); clk.Now().Before(end); {
			clk.Advance(10 * time.Second)
			value++
			c.reading(energy, meter.Reading{Meter: "grid", Role: meter.RoleSiteImport, Value: value, At: clk.Now(), Quality: meter.QualityGood})
		}
	}
	// The first minute closes one interval: the writer takes it and blocks on the lock.
	feed(time.Minute)
	waitFor(t, "the writer to take the first interval", func() bool { return len(c.energy) == 0 })

	// Ten more minutes of readings, one every 10 s, with the writer stuck.
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		feed(10 * time.Minute)
	}()
	select {
	case <-fed:
	case <-time.After(time.Minute): // the busy handler would hold it for 10 minutes
		t.Fatal("the meter feed waited for the store")
	}
	last := value
	waitFor(t, "the last reading in the Runner", func() bool { return c.runner.Basis().ImportKW == last })
	if s := c.Stats(); s.EnergyDropped != 8 || s.EnergyQueued != 2 || s.EnergyWriteErrors != 0 {
		t.Fatalf("energy queue with the store locked: %+v", s)
	}
	if d := c.Drops()["power_energy_full"]; d != 8 {
		t.Fatalf("drop counter %d, want 8", d)
	}

	// Release the lock: the writer stores the interval it held and the two queued.
	if _, err := lock.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue drained", func() bool {
		ivs, err := st.EnergySeries(context.Background(), epoch, epoch.Add(time.Hour))
		return err == nil && len(ivs) == 3
	})
	cancel()
	<-writerDone
	<-runnerDone
	if s := c.Stats(); s.EnergyWriteErrors != 0 {
		t.Fatalf("write errors after the lock was released: %+v", s)
	}
}

// TestMissedMeterPollDoesNotShed: one unreachable poll (a Modbus timeout) is not garbage; only
// staleness should move the fleet to the safe floor. A garbage reading still does.
func TestMissedMeterPollDoesNotShed(t *testing.T) {
	clk := clock.NewManual(epoch)
	pc := testPolicy()
	pc.StaleAfter = policy.Duration(time.Minute)
	px, _ := startProxy(t, deadAddr(t), clk)
	c, err := New(context.Background(), DefaultConfig(), Options{Policy: &pc, Proxy: px, Clock: clk,
		Meters: []meter.Config{{Name: "grid", Role: meter.RoleSiteImport, Source: meter.KindSim, Trace: []meter.TracePoint{{Value: 500}}}}})
	if err != nil {
		t.Fatal(err)
	}
	g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	for k := range 10 {
		m := g.NewMiner(fmt.Sprintf("w%d", k), fmt.Sprintf("w%d", k))
		m.Proven = true
		m.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: epoch.Add(-time.Hour)}
		c.runner.UpsertMiner(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.runner.Run(ctx) }()
	defer func() { cancel(); <-done }()
	energy := newEnergyLedger(time.Minute, clk.Now())
	steps := func() uint64 { return c.runner.Snapshot().Steps }
	paused := func() int {
		n := 0
		for _, m := range c.runner.Snapshot().Miners {
			if m.Commanded.Action == policy.ActionPause {
				n++
			}
		}
		return n
	}
	send := func(q meter.Quality, v float64) {
		before := steps()
		clk.Advance(time.Second)
		c.reading(energy, meter.Reading{Meter: "grid", Role: meter.RoleSiteImport, Value: v, At: clk.Now(), Quality: q})
		waitFor(t, "a policy step", func() bool { return steps() > before })
	}
	send(meter.QualityGood, 500)
	send(meter.QualityUnavailable, 0)
	send(meter.QualityUnavailable, 0)
	if n := paused(); n != 0 {
		t.Fatalf("a missed poll paused %d miners", n)
	}
	if ms := c.MeterStatus(); len(ms) != 1 || ms[0].Readings["unavailable"] != 2 || ms[0].Stale {
		t.Fatalf("meter status %+v", ms)
	}
	send(meter.QualityInvalid, 0)
	waitFor(t, "garbage from the meter to shed to the safe floor", func() bool { return paused() == 10 })
}

// TestFutureDatedReadingDoesNotLockTheMeterOut: a push dated 55 s ahead of our clock must not
// make the correct readings after it look old (they would be refused until our clock caught
// up, and the site meter would go stale).
func TestFutureDatedReadingDoesNotLockTheMeterOut(t *testing.T) {
	c, clk, energy := gridOnly(t)
	send := func(v float64, ahead time.Duration) {
		clk.Advance(time.Second)
		c.reading(energy, meter.Reading{Meter: "grid", Role: meter.RoleSiteImport, Value: v, At: clk.Now().Add(ahead), Quality: meter.QualityGood})
		// A refused reading never shows: the wait then fails the test.
		waitFor(t, fmt.Sprintf("the policy to see %.0f kW", v), func() bool { return c.runner.Basis().ImportKW == v })
	}
	send(500, 55*time.Second)
	for v := 501.0; v < 506; v++ {
		send(v, 0)
	}
	if b := c.runner.Basis(); b.Mode != policy.ModeNormal {
		t.Fatalf("correct readings after a future-dated one: mode %s", b.Mode)
	}
}

// TestMeterStatusSaysWhatThePolicyRejects: a grid meter sending -50 kW calls it good; the
// policy faults it, and the meter's status must say so instead of "good".
func TestMeterStatusSaysWhatThePolicyRejects(t *testing.T) {
	c, clk, energy := gridOnly(t)
	send := func(v float64, seen func(policy.Basis) bool) {
		clk.Advance(time.Second)
		c.reading(energy, meter.Reading{Meter: "grid", Role: meter.RoleSiteImport, Value: v, At: clk.Now(), Quality: meter.QualityGood})
		waitFor(t, fmt.Sprintf("the policy to judge %.0f kW", v), func() bool { return seen(c.runner.Basis()) })
	}
	send(500, func(b policy.Basis) bool { return b.ImportKW == 500 })
	if ms := c.MeterStatus(); len(ms) != 1 || !ms[0].Trusted || ms[0].Quality != "good" {
		t.Fatalf("healthy meter: %+v", ms)
	}
	send(-50, func(b policy.Basis) bool { return b.Faults.Has(policy.RoleSiteImport) })
	if ms := c.MeterStatus(); ms[0].Trusted || ms[0].Quality != "good" || ms[0].Value != -50 {
		t.Fatalf("-50 kW at the grid: %+v", ms)
	}
}

// gridOnly is a Controller with one site meter and no fleet, its Runner running on a manual
// clock; readings are handed to it directly, as the meter feed does.
func gridOnly(t *testing.T) (*Controller, *clock.Manual, *energyLedger) {
	t.Helper()
	clk := clock.NewManual(epoch)
	pc := testPolicy()
	px, _ := startProxy(t, deadAddr(t), clk)
	c, err := New(context.Background(), DefaultConfig(), Options{Policy: &pc, Proxy: px, Clock: clk,
		Meters: []meter.Config{{Name: "grid", Role: meter.RoleSiteImport, Source: meter.KindSim, Trace: []meter.TracePoint{{Value: 500}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, clk, newEnergyLedger(time.Minute, clk.Now())
}
