package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestPoolEditsReplaceAndReopen: saving pool edits replaces the earlier ones and records the
// audit event with them; both are there after a reopen; a bad record changes nothing.
func TestPoolEditsReplaceAndReopen(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	s := openTest(t, cfg, hooks{})
	first := []PoolEdit{
		{Name: "main", URL: "stratum+tcp://a:3333", User: "acct", Password: "secret", Priority: 2, Weight: 30, Time: t0, Actor: "user:alice"},
		{Name: "old", Removed: true, Time: t0, Actor: "user:alice"},
	}
	ev := Event{Time: t0, Kind: "pool.edit", Subject: "main", Actor: "user:alice", Detail: json.RawMessage(`{"password_changed":true}`)}
	if err := s.SavePoolEdits(ctx, first, ev); err != nil {
		t.Fatal(err)
	}
	second := []PoolEdit{{Name: "main", URL: "stratum+tcp://b:3333", User: "acct2", Password: "secret", Priority: 0, Time: t0.Add(time.Minute), Actor: "user:bob"}}
	if err := s.SavePoolEdits(ctx, second, Event{Time: t0.Add(time.Minute), Kind: "pool.remove", Subject: "old", Actor: "user:bob"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		edits []PoolEdit
		ev    Event
	}{
		{[]PoolEdit{{Time: t0}}, ev},
		{second, Event{Time: t0}},
		{second, Event{Time: t0, Kind: "pool.add", Detail: json.RawMessage(`{`)}},
	} {
		if err := s.SavePoolEdits(ctx, bad.edits, bad.ev); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("bad record: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg, hooks{})
	got, err := s.PoolEdits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != second[0] {
		t.Fatalf("edits after reopen: %+v", got)
	}
	es, err := s.Events(ctx, EventQuery{Kind: "pool.edit"})
	if err != nil || len(es) != 1 || es[0].Actor != "user:alice" || string(es[0].Detail) != `{"password_changed":true}` {
		t.Fatalf("audit event: %+v %v", es, err)
	}
	if es, _ := s.Events(ctx, EventQuery{Kind: "pool.remove"}); len(es) != 1 || es[0].Subject != "old" {
		t.Fatalf("second audit event: %+v", es)
	}
	if err := s.SavePoolEdits(ctx, nil, Event{Time: t0, Kind: "pool.reset"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PoolEdits(ctx); len(got) != 0 {
		t.Fatalf("edits after clearing: %+v", got)
	}
}
