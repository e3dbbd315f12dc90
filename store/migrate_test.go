package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

func TestMigrateFromEmptyAndReopen(t *testing.T) {
	cfg := testConfig(t)
	s := openTest(t, cfg, hooks{})

	var v int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) {
		t.Fatalf("user_version = %d, want %d", v, len(migrations))
	}
	for _, table := range []string{"shares", "share_rollup", "decisions", "miner_state", "events", "energy"} {
		if n := countRows(t, s, table); n != 0 {
			t.Fatalf("%s has %d rows in a new database", table, n)
		}
	}
	// Each pool has the pragmas documented in doc.go.
	for _, c := range []struct {
		name string
		db   *sql.DB
		sync int
	}{{"audit", s.audit, 2}, {"ledger", s.ledger, 1}, {"read", s.read, 1}} {
		var mode string
		var fk, sync, busy int
		row := c.db.QueryRow("SELECT * FROM pragma_journal_mode, pragma_foreign_keys, pragma_synchronous, pragma_busy_timeout")
		if err := row.Scan(&mode, &fk, &sync, &busy); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if mode != "wal" || fk != 1 || sync != c.sync || busy != int(cfg.BusyTimeout.Milliseconds()) {
			t.Errorf("%s: journal_mode=%s foreign_keys=%d synchronous=%d busy_timeout=%d", c.name, mode, fk, sync, busy)
		}
	}

	ctx := context.Background()
	if _, err := s.RecordEvent(ctx, Event{Time: t0, Kind: "test.kept"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTest(t, cfg, hooks{})
	events, err := s2.Events(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Kind != "test.kept" {
		t.Fatalf("after reopen: %+v", events)
	}
}

func TestMigrateResumesPartialSchema(t *testing.T) {
	cfg := testConfig(t)
	saved := migrations
	t.Cleanup(func() { migrations = saved })

	// A build that knows only the first migration, then one with a second.
	migrations = saved[:1]
	oldRollupWriter(t)
	s := openTest(t, cfg, hooks{})
	s.Close()
	migrations = append(saved[:1:1], `CREATE TABLE later (x INTEGER);`)
	s = openTest(t, cfg, hooks{})
	var v int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != 2 || countRows(t, s, "later") != 0 {
		t.Fatalf("user_version = %d after second migration", v)
	}
	s.Close()

	// A migration that fails leaves the version where it was.
	migrations = append(migrations[:2:2], `CREATE TABLE ok (x); CREATE TABLE later (x);`)
	if _, err := Open(context.Background(), cfg, zerolog.Nop()); err == nil {
		t.Fatal("failing migration did not fail Open")
	}
	migrations = migrations[:2]
	s = openTest(t, cfg, hooks{})
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	var n int
	s.read.QueryRow("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'ok'").Scan(&n)
	if v != 2 || n != 0 {
		t.Fatalf("failed migration left version %d and table ok=%d", v, n)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	cfg := testConfig(t)
	s := openTest(t, cfg, hooks{})
	if _, err := s.audit.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), cfg, zerolog.Nop())
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
}

// The path reaches SQLite as a file name, not as a URI to be decoded.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site #1 %20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Path = filepath.Join(dir, "hash?gate.db")
	s := openTest(t, cfg, hooks{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Path); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
}
