package power_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy/firmware"
	"github.com/hashgate/hashgate/power"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

var telEpoch = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// telRig runs one Poller on a manual clock against loopback simulators and
// records what it reports.
type telRig struct {
	t   *testing.T
	clk *clock.Manual
	p   *power.Poller

	mu      sync.Mutex
	fleet   []power.PollTarget
	reports []power.Telemetry
}

func newTelRig(t *testing.T, cfg power.PollerConfig, log zerolog.Logger, fleet ...power.PollTarget) *telRig {
	t.Helper()
	reg, err := firmware.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &telRig{t: t, clk: clock.NewManual(telEpoch), fleet: fleet}
	if r.p, err = power.NewPoller(cfg, reg, r.clk, log); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs the poller until the test ends and returns once its first
// timer is armed, so every Advance after it is seen by the poller.
func (r *telRig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.p.Run(ctx, r.targets, r.record)
	}()
	r.t.Cleanup(func() { cancel(); <-done })
	r.waitFor("the poller to arm its timer", func() bool { return r.clk.Pending() > 0 })
}

func (r *telRig) targets() []power.PollTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]power.PollTarget(nil), r.fleet...)
}

func (r *telRig) setFleet(fleet ...power.PollTarget) {
	r.mu.Lock()
	r.fleet = fleet
	r.mu.Unlock()
}

func (r *telRig) record(tel power.Telemetry) {
	r.mu.Lock()
	r.reports = append(r.reports, tel)
	r.mu.Unlock()
}

// results returns the reports for id, oldest first.
func (r *telRig) results(id string) []power.Telemetry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []power.Telemetry
	for _, tel := range r.reports {
		if tel.ID == id {
			out = append(out, tel)
		}
	}
	return out
}

// waitFor waits for real I/O to finish; it fails the test only when the
// condition is still false after a generous bound, so it asserts nothing
// about speed.
func (r *telRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// step moves simulated time by d in increments of at most inc, letting the
// calls started at each increment return before the next.
func (r *telRig) step(d, inc time.Duration) {
	r.t.Helper()
	for d > 0 {
		s := min(inc, d)
		r.clk.Advance(s)
		d -= s
		r.waitFor("calls in flight to return", func() bool { return r.p.Stats().InFlight == 0 })
	}
}

func telSimMiner(t *testing.T, clk sim.Clock) *sim.Miner {
	t.Helper()
	m, err := sim.NewMiner(sim.DefaultMinerConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type telCloser interface{ Close() error }

// telListen starts srv on listen and returns its address.
func telListen(t *testing.T, srv telCloser, listen func(string) (net.Addr, error), addr string) string {
	t.Helper()
	a, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return a.String()
}

func telLuxOS(t *testing.T, m *sim.Miner, clk sim.Clock, addr string) string {
	s := sim.NewLuxOS(m, clk, 0, zerolog.Nop())
	return telListen(t, s, s.Listen, addr)
}

// telDeadAddr returns a loopback address nothing listens on.
func telDeadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func telTarget(id, fw, addr string) power.PollTarget {
	return power.PollTarget{ID: id, Firmware: fw, Target: firmware.Target{ID: id, Addr: addr}}
}

func TestPollerReportsLuxOSAndBraiins(t *testing.T) {
	cfg := power.PollerConfig{Interval: 10 * time.Second, Parallel: 4, Timeout: 5 * time.Second}
	r := newTelRig(t, cfg, zerolog.Nop())
	lux, bos := telSimMiner(t, r.clk), telSimMiner(t, r.clk)
	luxAddr := telLuxOS(t, lux, r.clk, "127.0.0.1:0")
	bs := sim.NewBraiins(bos, r.clk, "", "", 0, zerolog.Nop())
	bosAddr := telListen(t, bs, bs.Listen, "127.0.0.1:0")
	fleet := []power.PollTarget{
		telTarget("lux", firmware.LuxOS, luxAddr),
		telTarget("bos", firmware.Braiins, bosAddr),
		telTarget("gate-only", firmware.None, telDeadAddr(t)),
	}
	r.setFleet(fleet...)
	r.start()
	r.step(10*time.Second-time.Nanosecond, time.Second)

	for _, id := range []string{"lux", "bos"} {
		res := r.results(id)
		if len(res) != 1 {
			t.Fatalf("%s: %d reports in the first interval, want 1", id, len(res))
		}
		tel := res[0]
		if tel.Err != nil || tel.Status.State != firmware.StateRunning || !tel.Status.Has(firmware.FieldPower) || tel.Status.PowerW != 3500 {
			t.Fatalf("%s running: %+v", id, tel)
		}
		if tel.At.Before(telEpoch) || !tel.At.Before(telEpoch.Add(10*time.Second)) {
			t.Fatalf("%s: At %v is not on the poller's clock", id, tel.At)
		}
	}
	if res := r.results("gate-only"); len(res) != 0 {
		t.Fatalf("a firmware \"none\" miner was polled: %+v", res)
	}

	reg, err := firmware.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range fleet[:2] {
		drv, err := reg.Driver(pt.Firmware)
		if err != nil {
			t.Fatal(err)
		}
		if err := drv.Sleep(context.Background(), pt.Target); err != nil {
			t.Fatalf("%s sleep: %v", pt.ID, err)
		}
	}
	// The state changes at once, the simulated draw ramps down over 5 s:
	// the round after next sees it settled.
	r.step(20*time.Second, time.Second)
	for _, id := range []string{"lux", "bos"} {
		res := r.results(id)
		if len(res) != 3 {
			t.Fatalf("%s: %d reports after three intervals, want 3", id, len(res))
		}
		if tel := res[1]; tel.Err != nil || tel.Status.State != firmware.StateSleeping || tel.Status.PowerW >= 3500 {
			t.Fatalf("%s just asleep: %+v", id, tel)
		}
		if tel := res[2]; tel.Err != nil || tel.Status.State != firmware.StateSleeping || tel.Status.PowerW != 25 {
			t.Fatalf("%s asleep: %+v", id, tel)
		}
	}
	if st := r.p.Stats(); st.Polls != 6 || st.Failures != 0 || st.Miners != 2 || st.LastRound >= 10*time.Second {
		t.Fatalf("stats %+v", st)
	}
}

// telLog is a zerolog sink safe for the poller's goroutines.
type telLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *telLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the logged entries with the given message.
func (l *telLog) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["level"] == "error" {
			t.Fatalf("a miner's failure logged at error level: %s", line)
		}
		if e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

func TestPollerBacksOffUnreachableAndRecovers(t *testing.T) {
	var logs telLog
	cfg := power.PollerConfig{Interval: 10 * time.Second, BackoffMax: 5 * time.Minute, Parallel: 4, Timeout: 5 * time.Second}
	r := newTelRig(t, cfg, zerolog.New(&logs))
	addr := telDeadAddr(t)
	r.setFleet(telTarget("dead", firmware.LuxOS, addr))
	r.start()

	// Polls 10, 20, 40, 80, 160 s apart, then every 300 s: at offsets 0,
	// 10, 30, 70, 150, 310, 610, ..., 3310 s from the first poll, which
	// lands within the first 10 s. That is 16 polls in the hour, where a
	// reachable miner gets 360.
	r.step(time.Hour, time.Second)
	res := r.results("dead")
	if len(res) != 16 {
		t.Fatalf("%d polls of an unreachable miner in an hour, want 16", len(res))
	}
	for _, tel := range res {
		if tel.Err == nil {
			t.Fatalf("poll of a dead address succeeded: %+v", tel)
		}
	}
	// At is when a call returned, which is at the end of the one-second
	// step it was started in or earlier.
	gaps := []time.Duration{10, 20, 40, 80, 160, 300, 300}
	for i, g := range gaps {
		if d := res[i+1].At.Sub(res[i].At) - g*time.Second; d <= -time.Second || d >= time.Second {
			t.Fatalf("gap %d is %v, want %v", i, res[i+1].At.Sub(res[i].At), g*time.Second)
		}
	}
	st := r.p.Stats()
	if st.Polls != 16 || st.Failures != 16 || st.Skipped < 340 || st.Busy != 0 {
		t.Fatalf("stats after the hour: %+v", st)
	}
	if n := len(logs.lines(t, "firmware status poll failing; backing off")); n != 1 {
		t.Fatalf("%d failure lines for one unreachable miner, want 1", n)
	}

	// The miner comes back on the same address: it is found within one
	// BackoffMax, and from then on polled every Interval.
	miner := telSimMiner(t, r.clk)
	telLuxOS(t, miner, r.clk, addr)
	back := r.clk.Now()
	r.step(cfg.BackoffMax+cfg.Interval, time.Second)
	res = r.results("dead")[16:]
	if len(res) == 0 || res[0].Err != nil || res[0].At.Sub(back) > cfg.BackoffMax {
		t.Fatalf("not recovered within BackoffMax: %+v", res)
	}
	first := res[0].At
	r.step(time.Minute, time.Second)
	var after int
	for _, tel := range r.results("dead")[16:] {
		if tel.Err != nil {
			t.Fatalf("failure after recovery: %+v", tel)
		}
		if tel.At.After(first) && !tel.At.After(first.Add(55*time.Second)) {
			after++
		}
	}
	if after != 5 {
		t.Fatalf("%d polls in the 55 s after recovery, want 5 (back-off not reset)", after)
	}
	if n := len(logs.lines(t, "firmware status poll answering again")); n != 1 {
		t.Fatalf("%d recovery lines, want 1", n)
	}
}

// telCounter is a LuxOS endpoint that counts the calls it is serving at
// once: a TCP relay in front of a simulated LuxOS miner. A call counts from
// its accept until the miner's reply is in hand, before the reply is passed
// on, so the count never exceeds the client's own in-flight calls. To make
// overlap certain rather than likely, each call is held until want calls
// are open (or until only fewer remain to come).
type telCounter struct {
	upstream string
	ln       net.Listener
	total    int // calls the test will make
	want     int

	mu       sync.Mutex
	cond     *sync.Cond
	cur      int
	max      int
	finished int
	stuck    bool
	wg       sync.WaitGroup
}

func newTelCounter(t *testing.T, upstream string, total, want int) *telCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &telCounter{upstream: upstream, ln: ln, total: total, want: want}
	c.cond = sync.NewCond(&c.mu)
	// A poller that never opens want calls at once would leave the relay
	// waiting forever: give up, and say so, after a generous bound.
	watchdog := time.AfterFunc(10*time.Second, func() {
		c.mu.Lock()
		c.stuck = true
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	c.wg.Go(c.accept)
	t.Cleanup(func() {
		watchdog.Stop()
		ln.Close()
		c.mu.Lock()
		c.stuck = true
		c.cond.Broadcast()
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

func (c *telCounter) accept() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Go(func() { c.serve(conn) })
	}
}

func (c *telCounter) serve(conn net.Conn) {
	defer conn.Close()
	c.mu.Lock()
	c.cur++
	c.max = max(c.max, c.cur)
	c.cond.Broadcast()
	for c.cur < min(c.want, c.total-c.finished) && !c.stuck {
		c.cond.Wait()
	}
	c.mu.Unlock()

	reply, err := c.relay(conn)
	c.mu.Lock()
	c.cur--
	c.finished++
	c.cond.Broadcast()
	c.mu.Unlock()
	if err == nil {
		_, _ = conn.Write(reply)
	}
}

// relay passes one request to the miner and returns its whole reply.
func (c *telCounter) relay(conn net.Conn) ([]byte, error) {
	var req json.RawMessage
	if err := json.NewDecoder(io.LimitReader(conn, 64<<10)).Decode(&req); err != nil {
		return nil, err
	}
	up, err := net.Dial("tcp", c.upstream)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	if _, err := up.Write(req); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(up, 1<<20))
}

func (c *telCounter) result() (maxOpen int, stuck bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max, c.stuck
}

func TestPollerNeverExceedsParallel(t *testing.T) {
	const miners, parallel = 40, 4
	cfg := power.PollerConfig{Interval: 10 * time.Second, Parallel: parallel, Timeout: 5 * time.Second}
	r := newTelRig(t, cfg, zerolog.Nop())
	upstream := telLuxOS(t, telSimMiner(t, r.clk), r.clk, "127.0.0.1:0")
	counter := newTelCounter(t, upstream, miners, parallel)
	var fleet []power.PollTarget
	for i := range miners {
		fleet = append(fleet, telTarget(string(rune('A'+i)), firmware.LuxOS, counter.ln.Addr().String()))
	}
	r.setFleet(fleet...)
	r.start()
	// One jump over the whole round: every miner is due at once.
	r.step(cfg.Interval-time.Nanosecond, cfg.Interval)

	maxOpen, stuck := counter.result()
	if stuck {
		t.Fatalf("the poller never had %d calls open at once (max %d)", parallel, maxOpen)
	}
	if maxOpen != parallel {
		t.Fatalf("%d calls open at once, Parallel is %d", maxOpen, parallel)
	}
	st := r.p.Stats()
	if st.Polls != miners || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, pt := range fleet {
		if res := r.results(pt.ID); len(res) != 1 || res[0].Err != nil {
			t.Fatalf("%s: %+v", pt.ID, res)
		}
	}
}

func TestPollerForgetsRemovedTargets(t *testing.T) {
	cfg := power.PollerConfig{Interval: 10 * time.Second, Parallel: 4, Timeout: 5 * time.Second}
	r := newTelRig(t, cfg, zerolog.Nop())
	addr := telLuxOS(t, telSimMiner(t, r.clk), r.clk, "127.0.0.1:0")
	a, b := telTarget("a", firmware.LuxOS, addr), telTarget("b", firmware.LuxOS, addr)
	dead := telTarget("dead", firmware.LuxOS, telDeadAddr(t))
	r.setFleet(a, b, dead)
	r.start()
	// Three rounds: "dead" fails at 0, 10 and 30 s and is then in a 40 s
	// back-off.
	r.step(40*time.Second-time.Nanosecond, time.Second)
	if st := r.p.Stats(); st.Miners != 3 {
		t.Fatalf("stats with three miners: %+v", st)
	}
	if n := len(r.results("dead")); n != 3 {
		t.Fatalf("dead polled %d times in 40 s, want 3", n)
	}

	// Dropped from the fleet: forgotten at the next round, not polled.
	na, nb, nd := len(r.results("a")), len(r.results("b")), len(r.results("dead"))
	r.setFleet(a)
	r.step(10*time.Second, time.Second)
	if st := r.p.Stats(); st.Miners != 1 {
		t.Fatalf("stats after two of three miners left: %+v", st)
	}
	if len(r.results("a")) != na+1 || len(r.results("b")) != nb || len(r.results("dead")) != nd {
		t.Fatal("a miner dropped from the fleet was still polled")
	}

	// Back again at 50 s, before its old back-off (70 s) ran out: a new
	// miner to the poller, polled in this round.
	r.setFleet(a, b, dead)
	r.step(10*time.Second, time.Second)
	if n := len(r.results("dead")); n != nd+1 {
		t.Fatalf("a returning miner inherited its old back-off: %d polls, want %d", n, nd+1)
	}
	if st := r.p.Stats(); st.Miners != 3 || len(r.results("b")) != nb+1 {
		t.Fatalf("stats after the miners came back: %+v", st)
	}
}

func TestPollerTimesOutStalledMiner(t *testing.T) {
	cfg := power.PollerConfig{Interval: 10 * time.Second, Parallel: 1, Timeout: 50 * time.Millisecond}
	r := newTelRig(t, cfg, zerolog.Nop())
	stalled := telSimMiner(t, r.clk)
	stalled.SetFaults(sim.FaultStall)
	r.setFleet(
		telTarget("stalled", firmware.LuxOS, telLuxOS(t, stalled, r.clk, "127.0.0.1:0")),
		telTarget("fine", firmware.LuxOS, telLuxOS(t, telSimMiner(t, r.clk), r.clk, "127.0.0.1:0")),
	)
	r.start()
	r.step(cfg.Interval-time.Nanosecond, cfg.Interval)
	if res := r.results("stalled"); len(res) != 1 || !errors.Is(res[0].Err, firmware.ErrTimeout) {
		t.Fatalf("stalled miner: %+v", res)
	}
	if res := r.results("fine"); len(res) != 1 || res[0].Err != nil {
		t.Fatalf("the miner after a stalled one: %+v", res)
	}
}

func TestPollerConfigValidate(t *testing.T) {
	if err := power.DefaultPollerConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	reg, err := firmware.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := power.NewPoller(power.PollerConfig{}, reg, nil, zerolog.Nop()); err != nil {
		t.Fatalf("zero config does not take the defaults: %v", err)
	}
	if _, err := power.NewPoller(power.PollerConfig{}, nil, nil, zerolog.Nop()); err == nil {
		t.Fatal("poller without a registry accepted")
	}
	for _, tc := range []struct {
		key string
		mod func(*power.PollerConfig)
	}{
		{"power.telemetry_interval", func(c *power.PollerConfig) { c.Interval = -time.Second }},
		{"power.telemetry_parallel", func(c *power.PollerConfig) { c.Parallel = -1 }},
		{"power.telemetry_timeout", func(c *power.PollerConfig) { c.Timeout = -time.Second }},
		{"power.telemetry_backoff_max", func(c *power.PollerConfig) { c.BackoffMax = time.Second }},
	} {
		c := power.DefaultPollerConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v does not name the key", tc.key, err)
		}
		if _, err := power.NewPoller(c, reg, nil, zerolog.Nop()); err == nil {
			t.Errorf("%s: NewPoller accepted a bad config", tc.key)
		}
	}
}
