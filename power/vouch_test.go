package power

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// A worker name is a claim any host on the site network can make. These tests run a stratum
// session that only names a matching worker (it never submits a share) from loopback, with the
// group's firmware port answered there by a simulator behind a recording TCP relay: the relay
// sees every byte the Controller sends to "the miner".

const fleetSecret = "fleet-secret-123"

// tapRelay is a loopback TCP relay to a firmware simulator that keeps what clients send.
type tapRelay struct {
	mu    sync.Mutex
	conns int
	sent  bytes.Buffer
	open  []net.Conn // closed at cleanup: a driver keeps its connections alive
}

func (r *tapRelay) accepted() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns, r.sent.String()
}

func (r *tapRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.Write(p)
}

// startTap relays a loopback port to backend and returns the port.
func startTap(t testing.TB, backend string) (int, *tapRelay) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tapRelay{}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		for _, c := range r.open {
			c.Close()
		}
		r.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.open = append(r.open, c)
			r.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				r.mu.Lock()
				r.open = append(r.open, b)
				r.mu.Unlock()
				go func() {
					io.Copy(c, b)
					c.Close()
				}()
				io.Copy(io.MultiWriter(b, r), c)
			})
		}
	})
	return l.Addr().(*net.TCPAddr).Port, r
}

// vnishSim runs a simulated VNish web API that unlocks with password.
func vnishSim(t testing.TB, password string) (string, *simfw.Miner) {
	t.Helper()
	m, err := simfw.NewMiner(simfw.VNishMinerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := simfw.NewVNish(m, password, zerolog.Nop())
	a, err := v.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return a.String(), m
}

// braiinsSim runs a simulated Braiins OS gRPC API that logs in root with password.
func braiinsSim(t testing.TB, password string) (string, *simfw.Miner) {
	t.Helper()
	m, err := simfw.NewMiner(simfw.DefaultMinerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := simfw.NewBraiins(m, nil, "root", password, 0, zerolog.Nop())
	a, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a.String(), m
}

// logBuf is a zerolog sink safe for the Controller's goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// fwResult is one FirmwareResults count, 0 when absent.
func fwResult(c *Controller, fw, cmd, result string) uint64 {
	for _, r := range c.FirmwareResults() {
		if r.Firmware == fw && r.Command == cmd && r.Result == result {
			return r.Count
		}
	}
	return 0
}

// vouchRig runs one silent session named worker against a Controller whose only group is g,
// polling every second of manual time, logging into the returned buffer.
func vouchRig(t *testing.T, g policy.FleetGroup, worker string) (*rig, *logBuf) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.TelemetryInterval, cfg.TelemetryBackoffMax = tomltime.Duration(time.Second), tomltime.Duration(time.Minute)
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{cfg: cfg, policy: &pc, fleet: []policy.FleetGroup{g}})
	logs := &logBuf{}
	r.c.log = zerolog.New(logs) // before anything runs
	r.silent(worker)
	waitFor(t, "the session", func() bool { return len(r.px.Identities()) == 1 })
	r.c.syncOnce()
	r.run()
	return r, logs
}

// pollRounds steps manual time by n telemetry rounds of one second, letting each round's calls
// return.
func (r *rig) pollRounds(n int) {
	for range n * 10 {
		r.clk.Advance(100 * time.Millisecond)
		waitFor(r.t, "status calls to return", func() bool { return r.c.Stats().Telemetry.InFlight == 0 })
	}
}

// TestFleetCredentialsWithheldFromUnvouchedAddress: a host outside the group's networks that
// names a matching worker is never sent the group's login (VNish in clear text, Braiins OS over
// h2c): no connection reaches its firmware port, each withheld poll and command is counted as
// "withheld", it is still gated by the policy, an operator command says why it was refused, the
// console's detail shows it not vouched for, and the log says so once.
func TestFleetCredentialsWithheldFromUnvouchedAddress(t *testing.T) {
	for _, tc := range []struct {
		fw  policy.Firmware
		sim func(testing.TB, string) (string, *simfw.Miner)
	}{
		{policy.FirmwareVNish, vnishSim},
		{policy.FirmwareBraiins, braiinsSim},
	} {
		t.Run(string(tc.fw), func(t *testing.T) {
			backend, _ := tc.sim(t, fleetSecret)
			port, tap := startTap(t, backend)
			g := policy.FleetGroup{Name: "rack", Pattern: "rack.*", Firmware: tc.fw, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1,
				Port: port, Username: "root", Password: fleetSecret, Networks: []string{"10.77.0.0/16"}}
			r, logs := vouchRig(t, g, "rack.rogue")
			fw := string(tc.fw)
			waitFor(t, "five withheld polls, or a connection to the rogue", func() bool {
				r.pollRounds(1)
				n, _ := tap.accepted()
				return n > 0 || fwResult(r.c, fw, "status", "withheld") >= 5
			})
			if n, sent := tap.accepted(); n != 0 || strings.Contains(sent, fleetSecret) {
				t.Fatalf("the rogue's firmware port got %d connections (password sent: %v)", n, strings.Contains(sent, fleetSecret))
			}
			mt, ok := r.c.MinerTelemetry("rack.rogue")
			if !ok || mt.Controllable || !mt.Unvouched || !mt.StatusAt.IsZero() {
				t.Fatalf("console detail of the rogue: %+v", mt)
			}

			// The policy still polices it through the gate alone.
			d := policy.Decision{MinerID: "rack.rogue", Action: policy.ActionPause}
			r.c.Plan([]policy.Decision{d})
			if err := r.c.Apply(context.Background(), d); err != nil {
				t.Fatalf("a gate-only pause: %v", err)
			}
			waitFor(t, "the rogue's gate to close", func() bool { return r.gateClosed("rack.rogue") })
			if got := fwResult(r.c, fw, "sleep", "withheld"); got == 0 {
				t.Fatal("the withheld sleep was not counted")
			}

			res := r.c.Reboot(context.Background(), "ops", []string{"rack.rogue"})
			if err := res[0].Err; !errors.Is(err, ErrCredentialsWithheld) || !errors.Is(err, ErrNoControl) {
				t.Fatalf("operator reboot of the rogue: %v", err)
			}
			if n, sent := tap.accepted(); n != 0 || strings.Contains(sent, fleetSecret) {
				t.Fatalf("after a pause and a reboot the rogue's firmware port got %d connections", n)
			}
			if n := logs.count("firmware credentials withheld"); n != 1 {
				t.Fatalf("%d log lines for one withheld miner, want 1:\n%s", n, logs.String())
			}
		})
	}
}

// TestFleetCredentialsSentInsideVouchedNetwork is the other side: the same session from inside
// the group's networks (a prefix, or one address) is polled with the login, proven by its
// firmware and measured.
func TestFleetCredentialsSentInsideVouchedNetwork(t *testing.T) {
	for _, networks := range [][]string{{"127.0.0.0/8"}, {"10.1.0.0/24", "127.0.0.1"}, {"::ffff:127.0.0.0/104"}} {
		t.Run(strings.Join(networks, ","), func(t *testing.T) {
			backend, sim := vnishSim(t, fleetSecret)
			port, tap := startTap(t, backend)
			g := policy.FleetGroup{Name: "rack", Pattern: "rack.*", Firmware: policy.FirmwareVNish, RatedKW: 3.5, EfficiencyJTH: 17.5,
				Priority: 1, Port: port, Password: fleetSecret, Networks: networks}
			r, logs := vouchRig(t, g, "rack.v")
			waitFor(t, "the poller's first round", func() bool { return r.c.Stats().Telemetry.Miners == 1 })
			for i := 0; ; i++ {
				if m, _ := r.miner("rack.v"); m.Proven && !m.MeasuredAt.IsZero() {
					break
				}
				if i == 60 {
					t.Fatalf("a vouched miner not proven and measured after 60 rounds: %+v %+v %+v", r.c.FirmwareResults(), r.c.pollTargets(), r.c.Stats())
				}
				r.pollRounds(1)
			}
			if m, _ := r.miner("rack.v"); m.MeasuredKW <= 0 || sim.State().PowerW <= 0 {
				t.Fatalf("measured %v kW, the firmware draws %v W", m.MeasuredKW, sim.State().PowerW)
			}
			if _, sent := tap.accepted(); !strings.Contains(sent, fleetSecret) {
				t.Fatal("the vouched miner was not sent its login")
			}
			if mt, _ := r.c.MinerTelemetry("rack.v"); !mt.Controllable || mt.Unvouched {
				t.Fatalf("console detail: %+v", mt)
			}
			if n := fwResult(r.c, "vnish", "status", "withheld"); n != 0 || logs.count("networks") != 0 {
				t.Fatalf("a vouched miner counted %d withheld polls; log:\n%s", n, logs.String())
			}
		})
	}
}

// TestFleetUnvouchedTelemetryNotTrusted: a group without credentials of its own still polls a
// miner outside its networks (nothing secret goes out), but whatever answers at that address
// could be any host: its "running" does not prove the session a miner and its reported draw
// does not reach the policy. The console still shows the reading, marked not vouched for.
func TestFleetUnvouchedTelemetryNotTrusted(t *testing.T) {
	addr, _ := bitaxe(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	g := policy.FleetGroup{Name: "rack", Pattern: "rack.*", Firmware: policy.FirmwareBitaxe, RatedKW: 3.5, EfficiencyJTH: 17.5,
		Priority: 1, Port: p}
	r, logs := vouchRig(t, g, "rack.fake")
	waitFor(t, "the poller's first round", func() bool { return r.c.Stats().Telemetry.Miners == 1 })
	waitFor(t, "the first answer", func() bool {
		r.pollRounds(1)
		mt, _ := r.c.MinerTelemetry("rack.fake")
		return !mt.StatusAt.IsZero()
	})
	r.pollRounds(3) // reports taken after the first answer have had their chance
	if m, _ := r.miner("rack.fake"); m.Proven || !m.MeasuredAt.IsZero() {
		t.Fatalf("telemetry from an address not vouched for was trusted: proven %v, measured %v kW at %v", m.Proven, m.MeasuredKW, m.MeasuredAt)
	}
	mt, _ := r.c.MinerTelemetry("rack.fake")
	if !mt.Controllable || !mt.Unvouched || mt.Status.PowerW == 0 {
		t.Fatalf("console detail: %+v", mt)
	}
	if pf := r.c.Gates()["rack.fake"].Proof; pf != ProofNone {
		t.Fatalf("proof %v", pf)
	}
	if n := logs.count("its telemetry is not taken as proof"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, logs.String())
	}
}
