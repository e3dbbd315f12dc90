package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/store"
)

// logLines collects the JSON log lines every hashgate process of a test writes (the processes
// an upgrade starts inherit the first one's stderr).
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   bytes.Buffer
}

func (l *logLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.Write(b)
	for {
		data := l.raw.Bytes()
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		var m map[string]any
		if json.Unmarshal(data[:i], &m) == nil {
			m["_seen"] = time.Now()
			l.lines = append(l.lines, m)
		}
		l.raw.Next(i + 1)
	}
	return len(b), nil
}

// find returns the first line from index from on whose message contains msg, and its index.
func (l *logLines) find(from int, msg string) (map[string]any, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; i < len(l.lines); i++ {
		if m, _ := l.lines[i]["message"].(string); strings.Contains(m, msg) {
			return l.lines[i], i
		}
	}
	return nil, -1
}

func (l *logLines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *logLines) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, m := range l.lines {
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// waitLog waits (generously: a loaded box) for a log line after index from.
func (l *logLines) wait(t *testing.T, from int, msg string) (map[string]any, int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if m, i := l.find(from, msg); m != nil {
			return m, i
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line %q after line %d:\n%s", msg, from, l.dump())
	return nil, -1
}

// notices are the datagrams sent to NOTIFY_SOCKET.
type notices struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notices) read(c *net.UnixConn) {
	buf := make([]byte, 4096)
	for {
		k, _, err := c.ReadFromUnix(buf)
		if err != nil {
			return
		}
		n.mu.Lock()
		n.msgs = append(n.msgs, string(buf[:k]))
		n.mu.Unlock()
	}
}

func (n *notices) has(msg string) bool { return slices.Contains(n.all(), msg) }

func (n *notices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// buildHashgate builds this command into dir with version v and returns its path.
func buildHashgate(t *testing.T, out, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := out + ".new"
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+v, "-o", tmp, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	// Replaced as a package manager does: the running binary's file is renamed over.
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
}

// probe dials addr in a loop until stop and counts refused connections: the listening port
// must never refuse one during an upgrade.
type probe struct {
	dials, refused atomic.Int64
	lastErr        atomic.Value
	stop           chan struct{}
	done           chan struct{}
}

func startProbe(addr string) *probe {
	p := &probe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			p.dials.Add(1)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
					p.refused.Add(1)
				}
				p.lastErr.Store(err.Error())
			} else {
				c.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

func (p *probe) end() {
	close(p.stop)
	<-p.done
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// waitGone waits for a process that is not this test's child to exit.
func waitGone(t *testing.T, pid int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for alive(pid) {
		if time.Since(start) > within {
			t.Fatalf("process %d still running after %s", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// fleet is the simulated miners of the upgrade test, with a sampler noting when each last
// (re)connected and when it next got a job.
type fleet struct {
	miners []*miner.Miner
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// perMiner: each miner must have a share accepted on its new connection (a small fleet,
	// each hashing fast enough); a large one shares a fixed hashrate and must only have work.
	perMiner bool
}

// fleetHashrate is what the whole simulated fleet hashes, whatever its size (one core's worth
// would starve the processes under test on a 2-core box).
const fleetHashrate = 160_000

func startFleet(t *testing.T, addr string, n int) *fleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{cancel: cancel, perMiner: n <= 16}
	for i := range n {
		m := miner.New(miner.Config{Addr: addr, Username: fmt.Sprintf("acct.m%04d", i), HashRate: fleetHashrate / float64(n),
			Reconnect: true, ReconnectDelay: 200 * time.Millisecond})
		f.miners = append(f.miners, m)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			m.Run(ctx)
		}()
	}
	t.Cleanup(f.stop)
	return f
}

func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
}

// connects is each miner's connection count.
func (f *fleet) connects() []uint64 {
	out := make([]uint64, len(f.miners))
	for i, m := range f.miners {
		out[i] = m.Stats.Connects.Load()
	}
	return out
}

// wave is how a fleet moved to a new process: when each miner's new connection was first
// seen, and how long from it to the miner's first job there.
type wave struct {
	connAt []time.Time
	work   []time.Duration
}

func (w wave) String() string {
	first, last := w.connAt[0], w.connAt[0]
	for _, c := range w.connAt {
		if c.Before(first) {
			first = c
		}
		if c.After(last) {
			last = c
		}
	}
	work := slices.Clone(w.work)
	slices.Sort(work)
	show := func(d time.Duration) string {
		if d == time.Nanosecond {
			return "<2ms" // in the sample that saw the connection
		}
		return d.Round(100 * time.Microsecond).String()
	}
	return fmt.Sprintf("%d miners reconnected over %s; reconnect to work p50 %s, p99 %s, max %s (sampled every 2 ms)",
		len(work), last.Sub(first).Round(time.Millisecond), show(work[len(work)/2]), show(work[len(work)*99/100]), show(work[len(work)-1]))
}

// watchMining samples the fleet every 2 ms from now on, until every miner has connected more
// than since[i] times and has work there (and, perMiner, a share accepted since); wait returns
// the wave. Started before the upgrade, so no job is missed.
func (f *fleet) watchMining(since []uint64) (wait func(t *testing.T, within time.Duration, logs *logLines) wave) {
	n := len(f.miners)
	w := wave{connAt: make([]time.Time, n), work: make([]time.Duration, n)}
	jobsBefore := make([]uint64, n) // at the last sample before the new connection was seen
	acc0 := make([]uint64, n)
	for i, m := range f.miners {
		acc0[i] = m.Stats.Accepted.Load()
		jobsBefore[i] = m.Stats.Jobs.Load()
	}
	stop := make(chan struct{})
	result := make(chan int, 1)
	go func() {
		for {
			ok := 0
			now := time.Now()
			for i, m := range f.miners {
				jobs := m.Stats.Jobs.Load()
				if m.Stats.Connects.Load() <= since[i] {
					jobsBefore[i] = jobs
					continue
				}
				if w.connAt[i].IsZero() {
					w.connAt[i] = now
				}
				if w.work[i] == 0 && jobs > jobsBefore[i] {
					// Seen in the same sample as the connection: within one sampling interval.
					w.work[i] = max(now.Sub(w.connAt[i]), time.Nanosecond)
				}
				if w.work[i] > 0 && (!f.perMiner || m.Stats.Accepted.Load() > acc0[i]) {
					ok++
				}
			}
			if ok == n {
				result <- ok
				return
			}
			select {
			case <-stop:
				result <- ok
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func(t *testing.T, within time.Duration, logs *logLines) wave {
		t.Helper()
		var ok int
		select {
		case ok = <-result:
		case <-time.After(within):
			close(stop)
			ok = <-result
		}
		if ok != n {
			t.Fatalf("after %s, %d of %d miners reconnected and mining (connects %v, was %v, work after %v):\n%s", within, ok, n, f.connects(), since, w.work, logs.dump())
		}
		return w
	}
}

// TestUpgradeHandsOverTheFleet runs the hashgate binary with a simulated pool and fleet on
// loopback and upgrades it twice with SIGHUP, the second time to a new build: the listening
// port never refuses a connection, every miner mines on the new process within the drain, and
// every share the pool accepted is in the ledger. An upgrade whose new process cannot start
// (a broken config) leaves the old one serving.
func TestUpgradeHandsOverTheFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hashgate")
	buildHashgate(t, bin, "v1")

	pc := simpool.DefaultConfig()
	pc.Difficulty, pc.JobInterval, pc.BlockInterval = 1e-6, 0, 0
	sp, err := simpool.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	poolAddr, err := sp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	minerAddr, consoleAddr := freeAddr(t), freeAddr(t)
	pidFile := filepath.Join(dir, "hashgate.pid")
	fleetSize, drain := 8, 2*time.Second
	// A larger measurement (BENCHMARKS.md): HASHGATE_UPGRADE_FLEET=1000 HASHGATE_UPGRADE_DRAIN=10s.
	if v := os.Getenv("HASHGATE_UPGRADE_FLEET"); v != "" {
		if fleetSize, err = strconv.Atoi(v); err != nil || fleetSize < 1 {
			t.Fatalf("HASHGATE_UPGRADE_FLEET=%q", v)
		}
	}
	if v := os.Getenv("HASHGATE_UPGRADE_DRAIN"); v != "" {
		if drain, err = time.ParseDuration(v); err != nil {
			t.Fatalf("HASHGATE_UPGRADE_DRAIN=%q", v)
		}
	}
	config := func(extra string) string {
		return fmt.Sprintf(`
[[listener]]
protocol = "sv1"
address  = %q

[[pool]]
name = "main"
url  = "stratum+tcp://%s"
user = "acct"

[difficulty]
initial = 0.000001
min     = 0.0000001

[proxy]
worker_names = "pool_user_only"

[store]
path = %q

[console]
address = %q

[upgrade]
drain    = %q
timeout  = "60s"
pid_file = %q
%s`, minerAddr, poolAddr, filepath.Join(dir, "hashgate.db"), consoleAddr, drain.String(), pidFile, extra)
	}
	cfgPath := filepath.Join(dir, "hashgate.toml")
	if err := os.WriteFile(cfgPath, []byte(config("")), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &logLines{}
	// A pipe of our own: the new processes inherit its write end, and Wait must not wait for
	// them to close it (as it would for an io.Writer it copies from).
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(logs, pr)
	// What the processes tell systemd (Type=notify), read as the service manager would.
	notify := &notices{}
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go notify.read(nl)
	cmd := exec.Command(bin, "run", "-c", cfgPath, "-log-format", "json")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(dir, "notify"))
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { pr.Close() })
	first := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The processes an upgrade starts are not this test's children: stop whichever serves.
	t.Cleanup(func() {
		if pid := readPID(t, pidFile); alive(pid) {
			syscall.Kill(pid, syscall.SIGTERM)
			waitGone(t, pid, time.Minute)
		}
		if alive(first) {
			cmd.Process.Kill()
		}
	})
	logs.wait(t, 0, "hashgate running")
	for deadline := time.Now().Add(time.Minute); !notify.has(fmt.Sprintf("READY=1\nMAINPID=%d", first)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("systemd was told %q", notify.all())
		}
	}
	if pid := readPID(t, pidFile); pid != first {
		t.Fatalf("pid file says %d, hashgate is %d", pid, first)
	}

	f := startFleet(t, minerAddr, fleetSize)
	f.watchMining(make([]uint64, fleetSize))(t, 2*time.Minute, logs)

	// 1: the same binary, same config.
	probe := startProbe(minerAddr)
	mining := f.watchMining(f.connects())
	mark := logs.count()
	hup := time.Now()
	if err := syscall.Kill(first, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, mark, "upgrade: the new process is ready")
	ready := time.Since(hup)
	second := 0
	for deadline := time.Now().Add(time.Minute); second == 0 || second == first; {
		if time.Now().After(deadline) {
			t.Fatalf("pid file still says %d", second)
		}
		second = readPID(t, pidFile)
		time.Sleep(10 * time.Millisecond)
	}
	work := mining(t, drain+proxy.ReconnectGrace+30*time.Second, logs)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the old process ended with %v:\n%s", err, logs.dump())
		}
		// systemd follows the new process before the old one exits.
		if want := fmt.Sprintf("MAINPID=%d\nREADY=1", second); !notify.has(want) {
			t.Fatalf("the old process exited before the new one told systemd %q: %q", want, notify.all())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the old process did not exit:\n%s", logs.dump())
	}
	oldGone := time.Since(hup)
	logs.wait(t, mark, "upgrade: store opened; hand-over complete")
	if !alive(second) {
		t.Fatalf("new process %d is not running", second)
	}
	t.Logf("upgrade 1: new process ready %s after SIGHUP, old gone after %s; %s", ready, oldGone, work)

	// The console is served by the new process.
	resp, err := http.Get("http://" + consoleAddr + "/healthz")
	if err != nil {
		t.Fatalf("console after the upgrade: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("console /healthz: %s", resp.Status)
	}

	// 2: a config the new process refuses: the upgrade fails and the old one keeps serving.
	if err := os.WriteFile(cfgPath, []byte(config("[upgrade]\nnot_a_key = 1\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	mark = logs.count()
	acc := sp.Accepted()
	syscall.Kill(second, syscall.SIGHUP)
	failed, _ := logs.wait(t, mark, "upgrade failed; this process keeps serving")
	if e, _ := failed["error"].(string); !strings.Contains(e, "exited") {
		t.Fatalf("failed upgrade logged %v", failed)
	}
	if _, i := logs.find(mark, "hashgate running"); i >= 0 {
		t.Fatalf("a process with a broken config ran:\n%s", logs.dump())
	}
	if pid := readPID(t, pidFile); pid != second || !alive(second) {
		t.Fatalf("after a failed upgrade the pid file says %d (serving %d, alive %v)", pid, second, alive(second))
	}
	for deadline := time.Now().Add(time.Minute); sp.Accepted() < acc+20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no shares after the failed upgrade (%d accepted)", sp.Accepted()-acc)
		}
	}

	// 3: a new build, config mended.
	if err := os.WriteFile(cfgPath, []byte(config("")), 0o600); err != nil {
		t.Fatal(err)
	}
	buildHashgate(t, bin, "v2")
	mining = f.watchMining(f.connects())
	mark = logs.count()
	hup = time.Now()
	syscall.Kill(second, syscall.SIGHUP)
	logs.wait(t, mark, "upgrade: the new process is ready")
	ready = time.Since(hup)
	running, _ := logs.wait(t, mark, "hashgate running")
	if running["version"] != "v2" {
		t.Fatalf("after the binary upgrade: %v", running)
	}
	work = mining(t, drain+proxy.ReconnectGrace+30*time.Second, logs)
	waitGone(t, second, time.Minute)
	oldGone = time.Since(hup)
	logs.wait(t, mark, "upgrade: store opened; hand-over complete")
	third := readPID(t, pidFile)
	if third == second || !alive(third) {
		t.Fatalf("after the second upgrade pid file says %d (was %d)", third, second)
	}
	t.Logf("upgrade 2 (new build): new process ready %s after SIGHUP, old gone after %s; %s", ready, oldGone, work)
	probe.end()
	if probe.refused.Load() > 0 {
		t.Fatalf("%d of %d connections refused during the upgrades (last: %v)", probe.refused.Load(), probe.dials.Load(), probe.lastErr.Load())
	}
	t.Logf("probe: %d connections, none refused", probe.dials.Load())

	// Every share the pool accepted is in the ledger once the last process has closed it.
	f.stop()
	syscall.Kill(third, syscall.SIGTERM)
	waitGone(t, third, time.Minute)
	st, err := store.Open(context.Background(), storeConfig(filepath.Join(dir, "hashgate.db")), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.ShareStats(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	var recorded, unknown int64
	for _, w := range stats {
		recorded += w.PoolAccepted.Count
		unknown += w.PoolUnknown.Count
	}
	if uint64(recorded) != sp.Accepted() {
		t.Fatalf("the pool accepted %d shares, the ledger has %d pool_accepted (%d pool_unknown)", sp.Accepted(), recorded, unknown)
	}
	t.Logf("ledger: %d pool_accepted = the pool's count, %d pool_unknown", recorded, unknown)
	if _, i := logs.find(0, "share events held while the previous process owned the store are recorded"); i < 0 {
		t.Log("no share events were held during the hand-overs")
	}
}

func storeConfig(path string) store.Config {
	c := store.DefaultConfig()
	c.Path = path
	return c
}

// TestServeWithoutUpgrades: where tableflip cannot run (another run already took this
// process's one upgrader; or the OS lacks support) hashgate serves all the same, says upgrades
// are off, and a SIGHUP is logged and ignored instead of ending the process.
func TestServeWithoutUpgrades(t *testing.T) {
	dir := t.TempDir()
	text := siteConfig(dir, freeAddr(t), "127.0.0.1:0", "")
	f, err := config.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	run := func(until func(string) bool) string {
		var log lockedBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, f, zerolog.New(&log)) }()
		deadline := time.Now().Add(time.Minute)
		for !until(log.String()) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("log never matched:\n%s", log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return log.String()
	}
	// The first run in this process may have the upgrader; the second cannot.
	run(func(l string) bool { return strings.Contains(l, "hashgate running") })
	sent := false
	log := run(func(l string) bool {
		if !sent && strings.Contains(l, "hashgate running") {
			syscall.Kill(os.Getpid(), syscall.SIGHUP)
			sent = true
		}
		return strings.Contains(l, "SIGHUP ignored: upgrades are off in this process")
	})
	if !strings.Contains(log, "upgrades are off: SIGHUP is ignored; restart to upgrade") || !strings.Contains(log, "only a single Upgrader") {
		t.Fatalf("no warning that upgrades are off:\n%s", log)
	}
}
