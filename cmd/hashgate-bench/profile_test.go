package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestIdleProfilesOfTheProxyChild: -memprofile and -goroutineprofile make the proxy child
// write its heap (gzipped pprof) and its goroutines (text) with the fleet connected and idle.
// On Linux an idle miner holds no goroutine (its connection waits in the proxy's epoll set),
// so the profile shows the one parker and no reader; elsewhere one reader per miner.
func TestIdleProfilesOfTheProxyChild(t *testing.T) {
	dir := t.TempDir()
	cfg := defaultBenchConfig()
	cfg.Miners = 20
	cfg.Duration, cfg.Warmup = 300*time.Millisecond, 0
	cfg.IdleBlocks, cfg.LoadBlocks = 1, 0
	cfg.HeapProfile = filepath.Join(dir, "heap.pb.gz")
	cfg.GoroutineProfile = filepath.Join(dir, "goroutines.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, t.Logf); err != nil {
		t.Fatal(err)
	}
	heap, err := os.ReadFile(cfg.HeapProfile)
	if err != nil {
		t.Fatal(err)
	}
	if len(heap) < 100 || !bytes.HasPrefix(heap, []byte{0x1f, 0x8b}) {
		t.Fatalf("heap profile is not a gzipped pprof file (%d bytes)", len(heap))
	}
	g, err := os.ReadFile(cfg.GoroutineProfile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(g, []byte("goroutine profile: total ")) {
		t.Fatalf("goroutine profile starts %.60q", g)
	}
	// Each stack group starts "<count> @ <pcs>".
	readers, parkers := 0, 0
	groups := regexp.MustCompile(`(?m)^(\d+) @`).FindAllSubmatchIndex(g, -1)
	for i, m := range groups {
		end := len(g)
		if i+1 < len(groups) {
			end = groups[i+1][0]
		}
		n, _ := strconv.Atoi(string(g[m[2]:m[3]]))
		if bytes.Contains(g[m[0]:end], []byte("(*v1Conn).readLoop")) {
			readers += n
		}
		if bytes.Contains(g[m[0]:end], []byte("(*parker).loop")) {
			parkers += n
		}
	}
	wantReaders, wantParkers := cfg.Miners, 0
	if runtime.GOOS == "linux" {
		wantReaders, wantParkers = 0, 1
	}
	if readers != wantReaders || parkers != wantParkers {
		t.Fatalf("goroutine profile: %d miner readers and %d parkers for %d idle miners, want %d and %d",
			readers, parkers, cfg.Miners, wantReaders, wantParkers)
	}
}

func TestProfileFlagsNeedTheChild(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*benchConfig)
	}{
		{"memprofile inproc", func(c *benchConfig) { c.HeapProfile, c.InProc = "h", true }},
		{"goroutineprofile external", func(c *benchConfig) { c.GoroutineProfile, c.Proxy = "g", "127.0.0.1:1" }},
	} {
		cfg := defaultBenchConfig()
		c.set(&cfg)
		if err := cfg.validate(); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	cfg := defaultBenchConfig()
	cfg.HeapProfile, cfg.GoroutineProfile = "h", "g"
	if err := cfg.validate(); err != nil {
		t.Fatalf("child mode with profiles: %v", err)
	}
}

// TestRaiseNoFile: the soft limit reaches what is asked, or the hard limit when the process
// may not raise that.
func TestRaiseNoFile(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &before) })
	want := max(before.Cur, before.Max) + 1000
	got, err := raiseNoFile(want)
	if err != nil {
		t.Fatal(err)
	}
	var after syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	if got != after.Cur {
		t.Fatalf("reported %d, soft limit now %d", got, after.Cur)
	}
	if got != want && got != before.Max {
		t.Fatalf("soft limit %d: neither the %d asked nor the hard limit %d", got, want, before.Max)
	}
	if got, err := raiseNoFile(10); err != nil || got != after.Cur {
		t.Fatalf("asking for less changed the limit to %d (%v)", got, err)
	}
}
