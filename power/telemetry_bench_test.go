package power_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy/firmware"
	"github.com/hashgate/hashgate/power"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// telSimEnv makes the test binary a simulator process for
// BenchmarkTelemetry10k: its value is the number of LuxOS miners to serve.
const telSimEnv = "HASHGATE_TELEMETRY_SIMS"

// BenchmarkTelemetry10k polls 10,000 simulated LuxOS miners every 10 s with
// DefaultPollerConfig and reports the poller's CPU per wall second.
//
// Each miner is a sim/firmware LuxOS endpoint with its own loopback
// listener, as a real miner has its own IP. The 10,000 listeners run in a
// child process (this test binary re-run as TestTelemetrySimProcess), so
// getrusage(RUSAGE_SELF) in this process counts the proxy side alone:
// dialling, the cgminer exchange, decoding, scheduling, reporting and the
// garbage they make, in user and kernel time. One op is one interval, after
// one interval of warm-up; the warm-up also reads each miner's LuxOS
// profile table, which the polls measured do not.
//
//	go test -run '^$' -bench Telemetry10k -benchtime 3x ./power/
func BenchmarkTelemetry10k(b *testing.B) {
	const miners = 10000
	telRaiseNoFile(b)
	addrs := telStartSims(b, miners)
	fleet := make([]power.PollTarget, miners)
	for i, a := range addrs {
		fleet[i] = telTarget(fmt.Sprintf("rig%05d", i), firmware.LuxOS, a)
	}
	reg, err := firmware.NewRegistry(nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := power.DefaultPollerConfig()
	p, err := power.NewPoller(cfg, reg, clock.Real, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Uint64
	var firstErr atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, func() []power.PollTarget { return fleet }, func(t power.Telemetry) {
			if t.Err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, t.Err.Error())
			}
		})
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(cfg.Interval) // warm-up: every miner polled once

	user0, sys0 := telRusage(b)
	st0 := p.Stats()
	start := time.Now()
	for b.Loop() {
		time.Sleep(cfg.Interval)
	}
	wall := time.Since(start)
	user1, sys1 := telRusage(b)
	st1 := p.Stats()

	user, sys := user1-user0, sys1-sys0
	polls := float64(st1.Polls - st0.Polls)
	b.ReportMetric((user+sys).Seconds()/wall.Seconds(), "cpu-s/wall-s")
	b.ReportMetric(polls/wall.Seconds(), "polls/s")
	b.ReportMetric(float64(user.Microseconds())/polls, "user-µs/poll")
	b.ReportMetric(float64(sys.Microseconds())/polls, "sys-µs/poll")
	b.ReportMetric(float64(st1.Busy-st0.Busy), "busy")
	b.ReportMetric(st1.LastRound.Seconds(), "round-s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d polls failed, first: %v", n, firstErr.Load())
	}
}

// telRusage is this process's user and system CPU time.
func telRusage(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// telRaiseNoFile lifts the soft limit on open files to the hard limit:
// 10,000 listeners need more than the usual 1024.
func telRaiseNoFile(tb testing.TB) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
	return lim.Cur
}

// telStartSims runs n LuxOS simulators in a child process and returns
// their addresses; the child exits when the benchmark ends.
func telStartSims(b *testing.B, n int) []string {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestTelemetrySimProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), telSimEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child's signal to exit
		_ = cmd.Wait()
	})
	var addrs []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if a, ok := strings.CutPrefix(line, "sim "); ok {
			addrs = append(addrs, a)
		} else if strings.HasPrefix(line, "ready") {
			break
		} else if msg, ok := strings.CutPrefix(line, "error "); ok {
			b.Fatalf("simulator process: %s", msg)
		}
	}
	if len(addrs) != n {
		b.Fatalf("simulator process started %d miners, want %d (%v)", len(addrs), n, sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return addrs
}

// TestTelemetrySimProcess is the simulator side of BenchmarkTelemetry10k,
// run only in the child process it starts.
func TestTelemetrySimProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(telSimEnv))
	if n <= 0 {
		t.Skip("the simulator process of BenchmarkTelemetry10k")
	}
	if lim := telRaiseNoFile(t); lim < uint64(n)+1024 {
		fmt.Printf("error open-file limit %d is too low for %d listeners\n", lim, n)
		return
	}
	w := bufio.NewWriter(os.Stdout)
	for range n {
		m, err := sim.NewMiner(sim.DefaultMinerConfig(), nil)
		if err != nil {
			fmt.Fprintf(w, "error %v\n", err)
			break
		}
		a, err := sim.NewLuxOS(m, nil, 0, zerolog.Nop()).Listen("127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(w, "error %v\n", err)
			break
		}
		fmt.Fprintf(w, "sim %s\n", a)
	}
	fmt.Fprintln(w, "ready")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
}
