package main

import (
	"errors"
	"testing"
)

func TestParseProcStatus(t *testing.T) {
	status := []byte("Name:\thashgate-bench\nVmPeak:\t 1266788 kB\nVmHWM:\t   64464 kB\nVmRSS:\t   40548 kB\nRssAnon:\t   33000 kB\nRssFile:\t    7548 kB\nRssShmem:\t       0 kB\nThreads:\t7\n")
	m, err := parseProcStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	want := procMemory{RSS: 40548, HWM: 64464, Anon: 33000, File: 7548, Threads: 7}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
	if _, err := parseProcStatus([]byte("Name:\tx\n")); !errors.Is(err, errNoRSS) {
		t.Fatalf("missing VmRSS: %v", err)
	}
	if _, err := parseProcStatus([]byte("VmRSS:\tlots kB\n")); err == nil {
		t.Fatal("bad number accepted")
	}
}

func TestReadOwnProcMemory(t *testing.T) {
	m, err := readProcMemory(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS == 0 || m.HWM < m.RSS {
		t.Fatalf("implausible %+v", m)
	}
}

func TestPoolDifficultyFromRatio(t *testing.T) {
	c := defaultBenchConfig()
	c.MinerDifficulty, c.ForwardRatio = 1e-3, 0.25
	if d := c.poolDifficulty(); d < 3.99e-3 || d > 4.01e-3 {
		t.Fatalf("pool difficulty %g, want 4e-3", d)
	}
	// Saturated: 1e-10 is below 2^-32, so the miners' effective difficulty is 2^-32·(1-2^-16).
	c.MinerDifficulty, c.ForwardRatio = 1e-10, 0.01
	if d := c.poolDifficulty(); d < 2.32e-8 || d > 2.33e-8 {
		t.Fatalf("pool difficulty %g, want about 2.328e-8", d)
	}
	c.PoolDifficulty = 5
	if c.poolDifficulty() != 5 {
		t.Fatal("explicit pool difficulty ignored")
	}
}
