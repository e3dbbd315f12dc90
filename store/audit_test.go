package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestDecisionsAndLastStates(t *testing.T) {
	cfg := testConfig(t)
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()

	tick1 := []Decision{
		{Time: t0, MinerID: "m1", Action: "run", TargetKW: 3.2, ReasonCode: "surplus", Reason: "PV surplus 40 kW",
			Inputs: json.RawMessage(`{"surplus_kw":40}`)},
		{Time: t0, MinerID: "m2", Action: "run", TargetKW: 3.0, ReasonCode: "surplus"},
	}
	if err := s.RecordDecisions(ctx, tick1...); err != nil {
		t.Fatal(err)
	}
	if tick1[0].ID == 0 || tick1[1].ID <= tick1[0].ID {
		t.Fatalf("ids not assigned in order: %d, %d", tick1[0].ID, tick1[1].ID)
	}
	tick2 := Decision{Time: t0.Add(time.Minute), MinerID: "m1", Action: "pause", ReasonCode: "deficit", Reason: "import 5 kW"}
	if err := s.RecordDecisions(ctx, tick2); err != nil {
		t.Fatal(err)
	}
	// A late replay of an older decision must not undo the newer state.
	if err := s.RecordDecisions(ctx, Decision{Time: t0.Add(-time.Minute), MinerID: "m1", Action: "run", TargetKW: 9}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The states survive a restart.
	s = openTest(t, cfg, hooks{})
	states, err := s.LastStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]MinerState{
		"m1": {MinerID: "m1", Time: t0.Add(time.Minute), Action: "pause", ReasonCode: "deficit", DecisionID: tick1[1].ID + 1},
		"m2": {MinerID: "m2", Time: t0, Action: "run", TargetKW: 3.0, ReasonCode: "surplus", DecisionID: tick1[1].ID},
	}
	if len(states) != len(want) {
		t.Fatalf("states %+v", states)
	}
	for id, w := range want {
		if g := states[id]; g != w {
			t.Errorf("state %s:\n got %+v\nwant %+v", id, g, w)
		}
	}

	got, err := s.Decisions(ctx, DecisionQuery{MinerID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Action != "pause" || got[2].ID != tick1[0].ID {
		t.Fatalf("decisions for m1: %+v", got)
	}
	if d := got[2]; string(d.Inputs) != `{"surplus_kw":40}` || d.Reason != "PV surplus 40 kW" || d.TargetKW != 3.2 || !d.Time.Equal(t0) {
		t.Fatalf("decision round trip: %+v", d)
	}
	if string(got[0].Inputs) != "{}" {
		t.Fatalf("empty inputs stored as %q", got[0].Inputs)
	}

	// m1's state is newer than the time it is forgotten for (it came back): it stays.
	if n, err := s.ForgetMiners(ctx, []Forget{{MinerID: "m2", Before: t0}, {MinerID: "m1", Before: t0}, {MinerID: "gone", Before: t0}}); err != nil || n != 1 {
		t.Fatalf("ForgetMiners: %d rows, %v", n, err)
	}
	states, _ = s.LastStates(ctx)
	if _, ok := states["m2"]; ok || len(states) != 1 {
		t.Fatalf("after ForgetMiners: %+v", states)
	}
}

func TestAuditRejectsInvalid(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	bad := []error{
		s.RecordDecisions(ctx, Decision{Time: t0, MinerID: "m1", Action: "run", Inputs: json.RawMessage(`{"a":`)}),
		s.RecordDecisions(ctx, Decision{Time: t0, Action: "run"}),
		s.RecordEnergy(ctx, EnergyInterval{Start: t0}),
	}
	_, err := s.RecordEvent(ctx, Event{Time: t0, Kind: "x", Detail: json.RawMessage(`nope`)})
	bad = append(bad, err)
	_, err = s.RecordEvent(ctx, Event{Kind: "x"})
	bad = append(bad, err)
	for i, err := range bad {
		if !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("case %d: %v, want ErrInvalidRecord", i, err)
		}
	}
	// A batch with one bad decision stores none of them.
	err = s.RecordDecisions(ctx, Decision{Time: t0, MinerID: "m1", Action: "run"}, Decision{Time: t0})
	if !errors.Is(err, ErrInvalidRecord) || countRows(t, s, "decisions") != 0 {
		t.Fatalf("partial batch: %v, %d rows", err, countRows(t, s, "decisions"))
	}
}

func TestEventsPaging(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	const n = 25
	for i := range n {
		e := Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: "meter.stale", Subject: fmt.Sprintf("meter%d", i%2),
			Detail: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		if i%5 == 0 {
			e.Kind, e.Actor = "manual.pause", "alice"
		}
		if _, err := s.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Walk every page of a time range, newest first.
	var seen []Event
	q := EventQuery{Page: Page{From: t0.Add(3 * time.Second), To: t0.Add(20 * time.Second), Limit: 4}}
	for {
		page, err := s.Events(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
		q.Before = page[len(page)-1].ID
	}
	if len(seen) != 17 {
		t.Fatalf("paged %d events, want 17", len(seen))
	}
	for i, e := range seen {
		want := 19 - i
		if !e.Time.Equal(t0.Add(time.Duration(want)*time.Second)) || string(e.Detail) != fmt.Sprintf(`{"i":%d}`, want) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	manual, err := s.Events(ctx, EventQuery{Kind: "manual.pause", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(manual) != 5 {
		t.Fatalf("%d manual events, want 5", len(manual))
	}
	sub, err := s.Events(ctx, EventQuery{Subject: "meter1", Page: Page{Limit: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) != 3 || sub[0].Subject != "meter1" || sub[0].Time != t0.Add(23*time.Second) {
		t.Fatalf("by subject: %+v", sub)
	}
}

func TestEnergySeries(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	for i := range 4 {
		e := EnergyInterval{Start: t0.Add(time.Duration(i) * 15 * time.Minute), Length: 15 * time.Minute,
			ImportKWh: float64(-i), MiningKWh: 10 + float64(i), AIKWh: 2, BudgetKWh: 12}
		if err := s.RecordEnergy(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// A meter correction replaces the interval.
	fixed := EnergyInterval{Start: t0.Add(15 * time.Minute), Length: 15 * time.Minute, ImportKWh: 0.5, MiningKWh: 11, AIKWh: 2.5, BudgetKWh: 12}
	if err := s.RecordEnergy(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	got, err := s.EnergySeries(ctx, t0, t0.Add(45*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1] != fixed || !got[0].Start.Equal(t0) || got[2].MiningKWh != 12 {
		t.Fatalf("series %+v", got)
	}
}

// TestLatestEvents: the newest event of a kind per subject, other kinds left out.
func TestLatestEvents(t *testing.T) {
	s := openTest(t, testConfig(t), hooks{})
	ctx := context.Background()
	t0 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range []Event{
		{Time: t0, Kind: "policy.applied", Subject: "a", Detail: json.RawMessage(`{"action":"pause"}`)},
		{Time: t0.Add(time.Second), Kind: "policy.applied", Subject: "a", Detail: json.RawMessage(`{"action":"run"}`)},
		{Time: t0.Add(2 * time.Second), Kind: "policy.apply_failed", Subject: "a", Detail: json.RawMessage(`{"action":"pause"}`)},
		{Time: t0, Kind: "policy.applied", Subject: "b", Detail: json.RawMessage(`{"action":"throttle"}`)},
	} {
		if _, err := s.RecordEvent(ctx, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	got, err := s.LatestEvents(ctx, "policy.applied")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["a"].Detail) != `{"action":"run"}` || !got["a"].Time.Equal(t0.Add(time.Second)) ||
		string(got["b"].Detail) != `{"action":"throttle"}` || got["a"].Kind != "policy.applied" {
		t.Fatalf("latest: %+v", got)
	}
}
