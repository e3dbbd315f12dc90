package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// TestUpgradeNewerSchemaFailsBeforeReady: a store migrated past what the new build knows
// (a downgrade over a newer build's database) makes the process taking over fail before it
// says it is ready: the old process is never told to drain and keeps serving its miner.
func TestUpgradeNewerSchemaFailsBeforeReady(t *testing.T) {
	r := startUpgradeRig(t)
	ms, _ := r.mine("acct.m1")
	m := ms[0]
	waitFor(t, "the miner mining", func() bool { return m.Stats.Accepted.Load() > 0 })

	// What a newer build's migration leaves behind.
	db, err := sql.Open("sqlite", r.f.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA busy_timeout = 30000; PRAGMA user_version = %d", v+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	readied := false
	_, err = StartWith(r.ctx, &r.f, zerolog.Nop(), Options{Listen: r.socks.inherit, Handover: &Handover{
		Ready:      func() error { readied = true; return nil },
		ParentGone: func(context.Context) error { return nil },
	}})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("taking over a newer store: %v, want ErrSchemaTooNew", err)
	}
	if readied {
		t.Fatal("the new process said it was ready before finding the store unusable")
	}
	acc, conns := m.Stats.Accepted.Load(), m.Stats.Connects.Load()
	waitFor(t, "the miner mining on the old process", func() bool { return m.Stats.Accepted.Load() > acc+3 })
	if n := m.Stats.Connects.Load(); n != conns {
		t.Fatalf("the miner reconnected %d times", n-conns)
	}
}

// TestUpgradeChecksEmbedStoreDir: an embedded NATS server whose store directory cannot be
// made fails the check a process taking over runs before Ready, naming the key; a usable one
// passes and is left as it was.
func TestUpgradeChecksEmbedStoreDir(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.Cluster = &cluster.Config{Embed: true, EmbedStoreDir: filepath.Join(notDir, "nats")}
	a := &App{cfg: &f}
	err := a.checkAfterReady(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cluster.embed_store_dir") {
		t.Fatalf("store dir under a file: %v, want an error naming cluster.embed_store_dir", err)
	}
	dir := filepath.Join(t.TempDir(), "nats")
	f.Cluster.EmbedStoreDir = dir
	if err := a.checkAfterReady(context.Background()); err != nil {
		t.Fatalf("usable store dir: %v", err)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("the check left %v (%v)", left, err)
	}
}
