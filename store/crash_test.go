package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// crashEnv, when set to a database path, makes TestRecordsSurviveKill run as
// the child process that writes records and then kills itself.
const crashEnv = "HASHGATE_STORE_CRASH_DB"

const (
	crashDecisions = 40
	crashEvents    = 40
	crashShares    = 500
)

// TestRecordsSurviveKill runs a child that writes audit records, flushed
// pool verdicts and energy intervals, and sends itself SIGKILL as soon as the
// last call returns, without closing the store. Every record whose call
// returned must be in the database when the parent opens it.
func TestRecordsSurviveKill(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	cfg := testConfig(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRecordsSurviveKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+cfg.Path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints the id of every event as its call returns.
	var reported []int64
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if id, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
			reported = append(reported, id)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: %v, want death by SIGKILL", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child exited with %v, want SIGKILL", exit)
	}
	if len(reported) != crashEvents {
		t.Fatalf("child reported %d events, want %d", len(reported), crashEvents)
	}

	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	events, err := s.Events(ctx, EventQuery{Page: Page{Limit: MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]Event{}
	for _, e := range events {
		byID[e.ID] = e
	}
	for i, id := range reported {
		e, ok := byID[id]
		if !ok || string(e.Detail) != fmt.Sprintf(`{"n":%d}`, i) || e.Actor != "operator" {
			t.Fatalf("event %d (id %d) after kill: %+v, present %v", i, id, e, ok)
		}
	}
	if n := countRows(t, s, "decisions"); n != crashDecisions {
		t.Fatalf("%d decisions after kill, want %d", n, crashDecisions)
	}
	states, err := s.LastStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := states["m7"]; st.Action != "pause" || st.TargetKW != float64(crashDecisions-1) {
		t.Fatalf("last state after kill: %+v", st)
	}
	if n := countRows(t, s, "shares"); n != crashShares {
		t.Fatalf("%d flushed shares after kill, want %d", n, crashShares)
	}
	series, err := s.EnergySeries(ctx, t0, t0.Add(time.Hour))
	if err != nil || len(series) != 1 {
		t.Fatalf("energy after kill: %v %+v", err, series)
	}
}

func crashChild(path string) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Path = path
	cfg.PruneInterval = 0
	s, err := Open(ctx, cfg, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, "child", what+":", err)
		os.Exit(2)
	}
	for i := range crashShares {
		if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, t0, i)); err != nil {
			fail("share", err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		fail("flush", err)
	}
	if err := s.RecordEnergy(ctx, EnergyInterval{Start: t0, Length: 15 * time.Minute, MiningKWh: 1}); err != nil {
		fail("energy", err)
	}
	for i := range crashDecisions {
		d := Decision{Time: t0.Add(time.Duration(i) * time.Second), MinerID: "m7", Action: "pause", TargetKW: float64(i)}
		if err := s.RecordDecisions(ctx, d); err != nil {
			fail("decision", err)
		}
	}
	for i := range crashEvents {
		id, err := s.RecordEvent(ctx, Event{Time: t0, Kind: "manual.pause", Subject: "m7", Actor: "operator",
			Detail: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil {
			fail("event", err)
		}
		fmt.Println(id)
	}
	// Die the moment the last call has returned: no Close, no deferred
	// functions, no flush of anything.
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
