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

// TestCheckSchema: a missing file and a current one pass; a schema newer than this build is
// ErrSchemaTooNew; the check writes nothing (the missing file stays missing, the version
// stays as it was).
func TestCheckSchema(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "hashgate.db")
	if err := CheckSchema(ctx, cfg); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(cfg.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("CheckSchema created the file: %v", err)
	}
	st, err := Open(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSchema(ctx, cfg); err != nil {
		t.Fatalf("current schema, store open: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	if err := CheckSchema(ctx, cfg); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("newer schema: %v, want ErrSchemaTooNew", err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations)+1 {
		t.Fatalf("version after the check: %d (%v)", v, err)
	}
	cfg.Path = ""
	if err := CheckSchema(ctx, cfg); err == nil {
		t.Fatal("an empty path passed")
	}
}
