package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHealthProbesADurableWrite: the probe commits a real write (the WAL grows by a frame),
// fails while another process holds the database's write lock, passes again once it lets go,
// and reports ErrClosed after Close.
func TestHealthProbesADurableWrite(t *testing.T) {
	cfg := testConfig(t)
	cfg.BusyTimeout = 200 * time.Millisecond
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	if err := s.Health(ctx); err != nil {
		t.Fatalf("fresh store: %v", err)
	}
	walSize := func() int64 {
		fi, err := os.Stat(cfg.Path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := walSize()
	if err := s.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if after := walSize(); after <= before {
		t.Fatalf("the probe wrote nothing: WAL %d bytes before, %d after", before, after)
	}

	// Another process (a second connection outside the store) takes the write lock.
	other, err := sql.Open("sqlite", "file:"+cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err == nil {
		t.Fatal("the probe passed while another process held the write lock")
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}

	s.Close()
	if err := s.Health(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed store: %v", err)
	}
}

// TestHealthReportsFailingShareWrites: while the share writer cannot commit (the disk full
// for the ledger connection only, so the audit probe itself would pass), Health says so with
// the writer's error; once a retry goes through it passes again.
func TestHealthReportsFailingShareWrites(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MaxBatch = 16
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	if err := s.Health(ctx); err != nil {
		t.Fatal(err)
	}
	diskFull(t, s)
	for i := range 600 { // enough rows to need pages the file no longer has
		if err := s.RecordShare(ctx, share("rig1", ResultAcceptedLocal, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "a commit to fail on the full disk", func() bool { return s.WriteState().Err != nil })
	err := s.Health(ctx)
	if err == nil || !strings.Contains(err.Error(), "share writes failing since "+t0.Format(time.RFC3339)) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Health with share writes failing: %v", err)
	}
	diskFreed(t, s)
	advanceUntil(t, clock, "the retry to go through", func() bool { return s.WriteState().Err == nil })
	if err := s.Health(ctx); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
