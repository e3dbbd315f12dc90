package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	simfw "github.com/hashgate/hashgate/sim/firmware"
	"github.com/hashgate/hashgate/sim/pool"
)

// The tests below run several real instances on loopback against one simulated site: a
// simulated pool, per instance a proxy with simulated Stratum miners whose power the simulated
// Bitaxe firmware models, a power.Controller fed into a Node, and one or more real NATS
// servers. The site meter is an HTTP endpoint every instance polls: a base load plus what
// every simulated miner draws. Each instance reaches NATS through a relay the test can cut
// (a partition). Nothing is timed as an assertion; conditions are polled.

// relay forwards TCP connections to a NATS server until cut.
type relay struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newRelay(t *testing.T, target string) *relay {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{l: l, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); r.setCut(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *relay) url() string { return "nats://" + r.l.Addr().String() }

func (r *relay) serve(c net.Conn) {
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		c.Close()
		return
	}
	r.mu.Unlock()
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	r.conns[c], r.conns[up] = true, true
	r.mu.Unlock()
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
}

// setCut partitions (true) or heals (false) the instance behind the relay.
func (r *relay) setCut(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = v
	if v {
		for c := range r.conns {
			c.Close()
		}
		clear(r.conns)
	}
}

// site is the simulated site: the miners' power models and a base load, read as one meter.
type site struct {
	mu     sync.Mutex
	baseKW float64
	miners []*simfw.Miner
	url    string
}

func (s *site) importKW() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	kw := s.baseKW
	for _, m := range s.miners {
		kw += m.State().PowerW / 1000
	}
	return kw
}

func (s *site) setBase(kw float64) {
	s.mu.Lock()
	s.baseKW = kw
	s.mu.Unlock()
}

func newSite(t *testing.T, baseKW float64) *site {
	s := &site{baseKW: baseKW}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%.3f", s.importKW())
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// logBuf collects an instance's JSON log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// carriedOut are the orders an instance carried out, in the order it began them.
func (l *logBuf) carriedOut() []struct {
	Miner  string `json:"miner"`
	Epoch  uint64 `json:"epoch"`
	Leader string `json:"leader"`
} {
	l.mu.Lock()
	data := append([]byte(nil), l.b.Bytes()...)
	l.mu.Unlock()
	var out []struct {
		Miner  string `json:"miner"`
		Epoch  uint64 `json:"epoch"`
		Leader string `json:"leader"`
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Msg    string `json:"message"`
			Miner  string `json:"miner"`
			Epoch  uint64 `json:"epoch"`
			Leader string `json:"leader"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "carrying out" {
			out = append(out, struct {
				Miner  string `json:"miner"`
				Epoch  uint64 `json:"epoch"`
				Leader string `json:"leader"`
			}{e.Miner, e.Epoch, e.Leader})
		}
	}
	return out
}

// instance is one hashgate's power side: proxy, miners, Controller and Node.
type instance struct {
	name   string
	node   *Node
	ctl    *power.Controller
	relay  *relay
	fw     []*simfw.Miner
	logs   *logBuf
	cancel context.CancelFunc
}

func sitePolicy(limitKW float64) policy.Config {
	pc := policy.DefaultConfig()
	pc.ImportLimitKW, pc.MarginKW, pc.HysteresisKW = limitKW, 0.5, 0.5
	pc.StaleAfter = policy.Duration(5 * time.Second)
	pc.MinRun, pc.MinPause = 0, 0
	pc.RestoreStepKW, pc.RestoreInterval = 20, policy.Duration(500*time.Millisecond)
	pc.ConfirmAfter, pc.MeterLag = policy.Duration(2*time.Second), policy.Duration(200*time.Millisecond)
	pc.Interval, pc.ApplyTimeout = policy.Duration(500*time.Millisecond), policy.Duration(5*time.Second)
	return pc
}

func startPool(t *testing.T) string {
	pc := pool.DefaultConfig()
	pc.Difficulty, pc.JobInterval, pc.BlockInterval = 1e-5, 0, 0
	sp, err := pool.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	addr, err := sp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startInstance runs an instance named name with miners simulated miners (name-0, name-1,
// ...) reaching NATS at natsAddr through a relay.
func startInstance(t *testing.T, s *site, name, poolAddr, natsAddr string, miners int, pc policy.Config) *instance {
	t.Helper()
	return startInstanceVia(t, s, name, poolAddr, newRelay(t, natsAddr), miners, pc)
}

// startInstanceVia is startInstance reaching NATS through the relay r.
func startInstanceVia(t *testing.T, s *site, name, poolAddr string, r *relay, miners int, pc policy.Config) *instance {
	t.Helper()
	names := make([]string, miners)
	for i := range names {
		names[i] = name + "-" + strconv.Itoa(i)
	}
	g := policy.FleetGroup{Name: name, Pattern: name + "-*", Firmware: policy.FirmwareBitaxe, RatedKW: 3.5, EfficiencyJTH: 17.5}
	return startKept(t, s, poolAddr, keptSpec{name: name, groups: []policy.FleetGroup{g}, rack: newRack(t, s, names...),
		miners: names, relay: r, pc: pc}).instance
}

func (in *instance) stop() {
	if in.cancel != nil {
		in.cancel()
		in.cancel = nil
	}
}

func (in *instance) role() Role { return in.node.Status().Role }

// sleeping counts the instance's miners whose firmware sleeps.
func (in *instance) sleeping() int {
	n := 0
	for _, m := range in.fw {
		if m.State().Sleeping {
			n++
		}
	}
	return n
}

func leaders(ins []*instance) []*instance {
	var out []*instance
	for _, in := range ins {
		if in.cancel != nil && in.role() == RoleLeader {
			out = append(out, in)
		}
	}
	return out
}

// watchLimit samples the site import every 20 ms and reports the longest stretch above the
// limit when stopped.
func watchLimit(s *site, limitKW float64) (stop func() (time.Duration, time.Time)) {
	var worst time.Duration
	var since, worstAt time.Time
	end := ticking(20*time.Millisecond, func(now time.Time) {
		if s.importKW() <= limitKW {
			since = time.Time{}
			return
		}
		if since.IsZero() {
			since = now
		}
		if now.Sub(since) > worst {
			worst, worstAt = now.Sub(since), since
		}
	})
	return func() (time.Duration, time.Time) {
		end()
		return worst, worstAt
	}
}

// checkFencing asserts that no miner carried out an order of an older epoch after one of a
// newer epoch.
func checkFencing(t *testing.T, ins []*instance) int {
	t.Helper()
	total := 0
	for _, in := range ins {
		last := map[string]uint64{}
		isolated := map[string]bool{}
		for _, c := range in.logs.carriedOut() {
			total++
			if c.Epoch == 0 {
				isolated[c.Miner] = true // the isolation Runner's own
				continue
			}
			if c.Epoch < last[c.Miner] {
				t.Errorf("%s: miner %s got an order of epoch %d (%s) after epoch %d", in.name, c.Miner, c.Epoch, c.Leader, last[c.Miner])
			}
			if isolated[c.Miner] && c.Epoch <= last[c.Miner] {
				// Once isolated, the epoch it followed is never obeyed again.
				t.Errorf("%s: miner %s obeyed epoch %d again after its isolation", in.name, c.Miner, c.Epoch)
			}
			last[c.Miner], isolated[c.Miner] = c.Epoch, false
		}
	}
	return total
}

// Three instances, two miners each (21 kW of mining), share one 24 kW import limit over a
// 5 kW base load: the leader's policy sheds across instances, a killed leader is replaced, a
// partitioned instance drops its miners to its floor and comes back, and a NATS restart is
// survived.
func TestSiteThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site for tens of seconds")
	}
	const limitKW = 24.0
	dir := t.TempDir()
	srv, err := StartEmbedded(EmbedOptions{Name: "n1", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")})
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := srv.Addr().String()
	defer func() { srv.Shutdown() }()
	s := newSite(t, 5)
	poolAddr := startPool(t)
	pc := sitePolicy(limitKW)
	ins := []*instance{
		startInstance(t, s, "a", poolAddr, natsAddr, 2, pc),
		startInstance(t, s, "b", poolAddr, natsAddr, 2, pc),
		startInstance(t, s, "c", poolAddr, natsAddr, 2, pc),
	}
	defer func() {
		if t.Failed() {
			t.Logf("site import %.2f kW", s.importKW())
			for _, in := range ins {
				st := in.node.Status()
				t.Logf("%s: role %s epoch %d leader %s asleep %d/%d instances %+v", in.name, st.Role, st.Epoch, st.Leader, in.sleeping(), len(in.fw), st.Instances)
				in.logs.mu.Lock()
				for _, line := range bytes.Split(in.logs.b.Bytes(), []byte("\n")) {
					if (bytes.Contains(line, []byte(`"component":"cluster"`)) || bytes.Contains(line, []byte(`"component":"policy"`))) && !bytes.Contains(line, []byte("lease bucket not")) {
						t.Logf("  %s", line)
					}
				}
				in.logs.mu.Unlock()
				if r := in.node.Runner(); r != nil {
					sn := r.Snapshot()
					t.Logf("  basis %+v", sn.Basis)
					for _, m := range sn.Miners {
						t.Logf("  %s %+v proven %v inflight %v pending %v failures %d %s", m.ID, m.Commanded, m.Proven, m.Inflight, m.Pending, m.Failures, m.LastErr)
					}
				}
			}
		}
	}()
	t0 := time.Now()
	phase := func(what string) { t.Logf("%s: %s", time.Since(t0).Round(time.Millisecond), what) }

	// One leader; everyone sees all three; the site is brought under its limit by sheds
	// the leader ordered from other instances too.
	waitFor(t, "one leader and three instances seen", func() bool {
		if len(leaders(ins)) != 1 {
			return false
		}
		for _, in := range ins {
			if len(in.node.Status().Instances) != 3 {
				return false
			}
		}
		return true
	})
	asleep := func() int {
		n := 0
		for _, in := range ins {
			if in.cancel != nil {
				n += in.sleeping()
			}
		}
		return n
	}
	// Until the first reading the site is at its safe floor; then it restores to one miner
	// short of the whole fleet (26 kW of site, 24 kW limit).
	waitFor(t, "the site settled under its limit", func() bool { return asleep() == 1 && s.importKW() <= limitKW })
	// From here on, the site over its limit is a fault: only a load step may put it there, for
	// as long as the leader, its order and the firmware's ramp take.
	stopWatch := watchLimit(s, limitKW)

	// A load step: 5 -> 9.5 kW needs two more miners off, wherever they are.
	phase("load step")
	s.setBase(9.5)
	waitFor(t, "the site back under its limit after a load step", func() bool { return s.importKW() <= limitKW })
	s.setBase(5)
	phase("load back")

	// Kill the leader: its process dies without releasing the lease.
	var old *instance
	waitFor(t, "a leader", func() bool {
		if l := leaders(ins); len(l) == 1 {
			old = l[0]
		}
		return old != nil
	})
	oldEpoch := old.node.Status().Epoch
	killed := time.Now()
	phase("leader killed")
	old.relay.setCut(true)
	old.stop()
	var next *instance
	waitFor(t, "a new leader", func() bool {
		if l := leaders(ins); len(l) == 1 && l[0] != old {
			next = l[0]
			return true
		}
		return false
	})
	t.Logf("leader failover: %s -> %s in %s", old.name, next.name, time.Since(killed).Round(time.Millisecond))
	if e := next.node.Status().Epoch; e <= oldEpoch {
		t.Fatalf("new leader's epoch %d not above %d", e, oldEpoch)
	}
	var alive []*instance
	for _, in := range ins {
		if in != old {
			alive = append(alive, in)
		}
	}

	// Partition the follower: after stale_after it holds its own floor (0 kW: asleep).
	var f *instance
	for _, in := range alive {
		if in != next {
			f = in
		}
	}
	phase("partition")
	f.relay.setCut(true)
	waitFor(t, "the partitioned instance isolated", func() bool { return f.role() == RoleIsolated })
	waitFor(t, "the partitioned instance's miners at its floor", func() bool { return f.sleeping() == len(f.fw) })
	phase("heal")
	f.relay.setCut(false)
	waitFor(t, "the partitioned instance following again", func() bool { return f.role() == RoleFollower })
	// The killed instance's miners stay as it left them; the rest fits under the limit.
	restored := func() bool {
		kw := s.importKW()
		if kw > limitKW {
			return false
		}
		for _, in := range alive {
			if in.sleeping() > 0 && kw <= limitKW-3.5-0.5 {
				return false // room for one more miner, and one of them asleep
			}
		}
		return true
	}
	waitFor(t, "the fleet restored after the partition", restored)

	// Restart NATS: everyone loses it, a leader comes back, the fleet restores.
	phase("NATS restart")
	srv.Shutdown()
	srv, err = StartEmbedded(EmbedOptions{Name: "n1", Listen: natsAddr, StoreDir: filepath.Join(dir, "js")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a leader after the NATS restart", func() bool { return len(leaders(alive)) == 1 })
	waitFor(t, "every live instance following or leading", func() bool {
		for _, in := range alive {
			if in.role() == RoleIsolated {
				return false
			}
		}
		return true
	})
	waitFor(t, "the fleet restored after the NATS restart", restored)
	worst, worstAt := stopWatch()
	t.Logf("longest stretch above the limit: %s, from %s", worst, worstAt.Sub(t0).Round(time.Millisecond))
	if worst > 10*time.Second {
		t.Errorf("site above its limit for %s", worst)
	}
	if n := checkFencing(t, ins); n == 0 {
		t.Fatal("no order recorded")
	}
}
