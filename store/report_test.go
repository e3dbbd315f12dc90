package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestMigrateAddsGroupEnergyKeepingData: a database written at schema 2 (before group energy)
// opens at the current version with its site energy intact and group energy recordable.
func TestMigrateAddsGroupEnergyKeepingData(t *testing.T) {
	cfg := testConfig(t)
	db, err := openDB(cfg, "FULL", false, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, m := range migrations[:2] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO energy VALUES (?, ?, 1.5, 1.0, 0.25, 2.0)`, t0.UnixNano(), int64(time.Minute)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTest(t, cfg, hooks{})
	var v int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) || len(migrations) < 3 {
		t.Fatalf("user_version %d (%v), %d migrations", v, err, len(migrations))
	}
	site, err := s.EnergySeries(ctx, t0, t0.Add(time.Hour))
	if err != nil || len(site) != 1 || site[0].ImportKWh != 1.5 {
		t.Fatalf("site energy after migration: %+v, %v", site, err)
	}
	g := GroupEnergy{Start: t0, Length: time.Minute, Group: "rack1", EstimatedKWh: 0.5, EstimatedSamples: 12}
	if err := s.RecordGroupEnergy(ctx, []GroupEnergy{g}); err != nil {
		t.Fatal(err)
	}
	// A late correction replaces the record of the same start and group.
	g.EstimatedKWh = 0.75
	if err := s.RecordGroupEnergy(ctx, []GroupEnergy{g}); err != nil {
		t.Fatal(err)
	}
	gs, err := s.GroupEnergySeries(ctx, t0, t0.Add(time.Hour), "")
	if err != nil || len(gs) != 1 || gs[0].EstimatedKWh != 0.75 || gs[0].MiningKWh() != 0.75 {
		t.Fatalf("group energy: %+v, %v", gs, err)
	}
}

// TestRecordGroupEnergyRefusesBadRecords: a record without a group, with no length or with a
// non-finite figure is refused whole (nothing of the batch is stored).
func TestRecordGroupEnergyRefusesBadRecords(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	good := GroupEnergy{Start: t0, Length: time.Minute, Group: "a", MeasuredKWh: 1}
	for name, bad := range map[string]GroupEnergy{
		"no group":  {Start: t0, Length: time.Minute},
		"no length": {Start: t0, Group: "a"},
		"NaN shed":  {Start: t0, Length: time.Minute, Group: "b", ShedKWh: math.NaN()},
		"Inf cost":  {Start: t0, Length: time.Minute, Group: "b", Cost: math.Inf(1)},
	} {
		if err := s.RecordGroupEnergy(ctx, []GroupEnergy{good, bad}); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: %v, want ErrInvalidRecord", name, err)
		}
	}
	if n := countRows(t, s, "energy_group"); n != 0 {
		t.Fatalf("%d rows stored from refused batches", n)
	}
}

// TestEnergyReportPerDayAndGroup: two UTC days of records around midnight are summed per day
// and group; curtailed minutes count the intervals with any curtailed time; the accepted
// difficulty comes from the share rollup; a group filter keeps one group; ranges are checked.
func TestEnergyReportPerDayAndGroup(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var gs []GroupEnergy
	// 30 minutes either side of midnight. Group a: 3.5 kW estimated, shed 3.5 kW during the
	// 10 minutes before midnight with one event; group b: 2 kW measured, never shed, priced at
	// 50 per MWh.
	for i := -30; i < 30; i++ {
		start := midnight.Add(time.Duration(i) * time.Minute)
		if err := s.RecordEnergy(ctx, EnergyInterval{Start: start, Length: time.Minute, ImportKWh: 100.0 / 60, MiningKWh: 5.5 / 60}); err != nil {
			t.Fatal(err)
		}
		a := GroupEnergy{Start: start, Length: time.Minute, Group: "a", EstimatedKWh: 3.5 / 60, EstimatedSamples: 12}
		if i >= -10 && i < 0 {
			a.EstimatedKWh, a.ShedKWh, a.CurtailedSeconds = 0, 3.5/60, 60
		}
		if i == -10 {
			a.CurtailEvents = 1
		}
		b := GroupEnergy{Start: start, Length: time.Minute, Group: "b", MeasuredKWh: 2.0 / 60, MeasuredSamples: 12,
			PricedKWh: 2.0 / 60, Cost: 2.0 / 60 * 50 / 1000}
		gs = append(gs, a, b)
	}
	if err := s.RecordGroupEnergy(ctx, gs); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e := share("w1", ResultPoolAccepted, midnight.Add(time.Duration(i-1)*time.Minute), i)
		if err := s.RecordShare(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)

	days, err := s.EnergyReport(ctx, midnight.AddDate(0, 0, -1), midnight, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || !days[0].Day.Equal(midnight.AddDate(0, 0, -1)) || !days[1].Day.Equal(midnight) {
		t.Fatalf("days: %+v", days)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	d0, d1 := days[0], days[1]
	near("day 1 import", d0.Site.ImportKWh, 50)
	near("day 1 metered minutes", d0.Site.Minutes, 30)
	if len(d0.Groups) != 2 || d0.Groups[0].Group != "a" || d0.Groups[1].Group != "b" {
		t.Fatalf("day 1 groups: %+v", d0.Groups)
	}
	a0, b0 := d0.Groups[0], d0.Groups[1]
	near("day 1 a mining", a0.MiningKWh, 3.5*20/60)
	near("day 1 a shed", a0.ShedKWh, 3.5*10/60)
	near("day 1 a curtailed minutes", a0.CurtailedMinutes, 10)
	if a0.CurtailEvents != 1 || a0.EstimatedSamples != 360 || a0.MeasuredSamples != 0 {
		t.Errorf("day 1 a: %+v", a0)
	}
	near("day 1 b mining", b0.MiningKWh, 1)
	near("day 1 b measured", b0.MeasuredKWh, 1)
	near("day 1 b cost", b0.Cost, 0.05)
	near("day 1 b shed", b0.ShedKWh, 0)
	near("day 1 b curtailed", b0.CurtailedMinutes, 0)
	a1 := d1.Groups[0]
	near("day 2 a shed", a1.ShedKWh, 0)
	near("day 2 a curtailed", a1.CurtailedMinutes, 0)
	near("day 2 a mining", a1.MiningKWh, 3.5*30/60)
	// Shares at 23:59, 00:00 and 00:01, difficulty 1024 each.
	near("day 1 accepted difficulty", d0.AcceptedDifficulty, 1024)
	near("day 2 accepted difficulty", d1.AcceptedDifficulty, 2048)

	only, err := s.EnergyReport(ctx, midnight.AddDate(0, 0, -1), midnight, "b")
	if err != nil || len(only) != 2 || len(only[0].Groups) != 1 || only[0].Groups[0].Group != "b" {
		t.Fatalf("group b only: %+v, %v", only, err)
	}
	if _, err := s.EnergyReport(ctx, midnight, midnight.AddDate(0, 0, -1), ""); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("reversed range: %v", err)
	}
	if _, err := s.EnergyReport(ctx, midnight, midnight.AddDate(0, 0, MaxReportDays), ""); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("range past %d days: %v", MaxReportDays, err)
	}
	if days, err := s.EnergyReport(ctx, midnight.AddDate(0, 0, 5), midnight.AddDate(0, 0, 6), ""); err != nil || len(days) != 0 {
		t.Errorf("days without records: %+v, %v", days, err)
	}
}

// TestExportPagesResume: the export pages of each kind return everything in the range once,
// in order, across pages, and nothing outside it.
func TestExportPagesResume(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	var ds []Decision
	for i := range 250 {
		ds = append(ds, Decision{Time: t0.Add(time.Duration(i) * time.Second), MinerID: fmt.Sprintf("m%d", i%3), Action: "pause", ReasonCode: "x", Reason: "y"})
	}
	if err := s.RecordDecisions(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	from, to := t0.Add(10*time.Second), t0.Add(240*time.Second)
	var got []Decision
	for after := int64(0); ; {
		page, err := s.DecisionsAfter(ctx, from, to, "", after, 100)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(got) != 230 || !got[0].Time.Equal(from) || got[229].Time.Unix() != to.Unix()-1 {
		t.Fatalf("decisions: %d, first %v last %v", len(got), got[0].Time, got[len(got)-1].Time)
	}
	if m1, err := s.DecisionsAfter(ctx, t0, t0.Add(time.Hour), "m1", 0, 1000); err != nil || len(m1) != 83 {
		t.Fatalf("miner m1: %d, %v", len(m1), err)
	}

	for i := range 5 {
		if _, err := s.RecordEvent(ctx, Event{Time: t0.Add(time.Duration(i) * time.Minute), Kind: "k", Subject: fmt.Sprint(i % 2)}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := s.EventsAfter(ctx, t0, t0.Add(time.Hour), "0", 0, 2)
	if err != nil || len(ev) != 2 || ev[0].Subject != "0" || ev[1].Time.Sub(ev[0].Time) != 2*time.Minute {
		t.Fatalf("events: %+v, %v", ev, err)
	}
	ev, err = s.EventsAfter(ctx, t0, t0.Add(time.Hour), "0", ev[1].ID, 2)
	if err != nil || len(ev) != 1 {
		t.Fatalf("events page 2: %+v, %v", ev, err)
	}

	// Energy: site rows at minutes 0..9, group rows at minutes 5..14 (no meter afterwards).
	for i := range 10 {
		if err := s.RecordEnergy(ctx, EnergyInterval{Start: t0.Add(time.Duration(i) * time.Minute), Length: time.Minute, ImportKWh: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var gs []GroupEnergy
	for i := 5; i < 15; i++ {
		for _, g := range []string{"a", "b"} {
			gs = append(gs, GroupEnergy{Start: t0.Add(time.Duration(i) * time.Minute), Length: time.Minute, Group: g, MeasuredKWh: 1})
		}
	}
	if err := s.RecordGroupEnergy(ctx, gs); err != nil {
		t.Fatal(err)
	}
	var site, groups int
	var after time.Time
	for pages := 0; ; pages++ {
		p, err := s.EnergyAfter(ctx, t0, t0.Add(time.Hour), after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if p.Next.IsZero() {
			if pages != 4 {
				t.Fatalf("%d pages of 4 starts for 15 starts", pages)
			}
			break
		}
		site, groups, after = site+len(p.Site), groups+len(p.Groups), p.Next
	}
	if site != 10 || groups != 20 {
		t.Fatalf("energy pages: %d site, %d group rows", site, groups)
	}

	// Shares: minute rows for two workers; the hour fold is exercised by the prune tests, here
	// the minute phase follows an empty hour phase.
	for i := range 6 {
		if err := s.RecordShare(ctx, share(fmt.Sprintf("w%d", i%2), ResultPoolAccepted, t0.Add(time.Duration(i)*time.Minute), i)); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)
	var rows []RollupRow
	var c RollupCursor
	for {
		page, next, err := s.RollupAfter(ctx, t0, t0.Add(time.Hour), "", c, 4)
		if err != nil {
			t.Fatal(err)
		}
		rows, c = append(rows, page...), next
		if len(page) < 4 {
			break
		}
	}
	if len(rows) != 6 || rows[0].Worker != "w0" || rows[1].Worker != "w1" || rows[5].Period != time.Minute || rows[5].DiffSum != 1024 {
		t.Fatalf("rollup rows: %+v", rows)
	}
	w1, _, err := s.RollupAfter(ctx, t0, t0.Add(time.Hour), "w1", RollupCursor{}, 100)
	if err != nil || len(w1) != 3 {
		t.Fatalf("w1 rows: %+v, %v", w1, err)
	}
}

// TestRollupAfterHoursThenMinutes: minutes older than minute_rollup_retention are exported as
// hour rows, before the minute rows still kept, with every share counted once across pages of
// one row.
func TestRollupAfterHoursThenMinutes(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MinuteRollupRetention = 2 * time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	// Two workers, a share every 10 minutes for 4 hours.
	for m := 0; m < 240; m += 10 {
		for _, w := range []string{"rig1", "rig2"} {
			if err := s.RecordShare(ctx, share(w, ResultAcceptedLocal, t0.Add(time.Duration(m)*time.Minute), m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustFlush(t, s)
	clock.Advance(4 * time.Hour)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []RollupRow
	var c RollupCursor
	for pages := 0; ; pages++ {
		page, next, err := s.RollupAfter(ctx, t0, t0.Add(4*time.Hour), "", c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if pages > 100 {
			t.Fatal("pages do not end")
		}
		rows, c = append(rows, page...), next
	}
	var hours, minutes, shares int64
	for i, r := range rows {
		switch r.Period {
		case time.Hour:
			hours++
			if minutes > 0 {
				t.Fatalf("row %d: an hour row after minute rows: %+v", i, rows)
			}
		case time.Minute:
			minutes++
		}
		shares += r.Count
	}
	// Hours 0 and 1 folded (2 workers each); the 12 minutes of hours 2 and 3 kept per worker.
	if hours != 4 || minutes != 24 || shares != 48 {
		t.Fatalf("%d hour rows, %d minute rows, %d shares: %+v", hours, minutes, shares, rows)
	}
}

// TestRetentionPrunesGroupEnergy: retention removes group intervals with the site intervals
// it prunes, including a minute the site meter missed, and keeps the newer ones.
func TestRetentionPrunesGroupEnergy(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.Retention, cfg.MinuteRollupRetention, cfg.ShareRetention = 24*time.Hour, time.Hour, time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	var gs []GroupEnergy
	for _, at := range []time.Duration{0, time.Minute, 2 * time.Minute, 30 * time.Hour} {
		start := t0.Add(at)
		if at != time.Minute { // the site meter missed minute 1
			if err := s.RecordEnergy(ctx, EnergyInterval{Start: start, Length: time.Minute, ImportKWh: 1}); err != nil {
				t.Fatal(err)
			}
		}
		gs = append(gs, GroupEnergy{Start: start, Length: time.Minute, Group: "a", MeasuredKWh: 1},
			GroupEnergy{Start: start, Length: time.Minute, Group: "b", MeasuredKWh: 1})
	}
	if err := s.RecordGroupEnergy(ctx, gs); err != nil {
		t.Fatal(err)
	}
	clock.Advance(26 * time.Hour) // minutes 0-2 are past retention, the one at 30 h is not
	r, err := s.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left, err := s.GroupEnergySeries(ctx, t0, t0.Add(48*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Energy != 3-1 || len(left) != 2 || !left[0].Start.Equal(t0.Add(30*time.Hour)) {
		t.Fatalf("pruned %d site intervals; group intervals left: %+v", r.Energy, left)
	}
}
