package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
)

// authCounter counts the worker authorizes the proxy writes to its pools.
type authCounter struct {
	mu      sync.Mutex
	partial []byte
	names   map[string]int
}

func (a *authCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, a: a}, nil
}

// count returns how many authorizes named a worker under prefix, and the most any one
// name was sent.
func (a *authCounter) count(prefix string) (total, most int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, k := range a.names {
		if strings.HasPrefix(n, prefix) {
			total += k
			most = max(most, k)
		}
	}
	return total, most
}

type countingConn struct {
	net.Conn
	a *authCounter
}

func (c *countingConn) Write(b []byte) (int, error) {
	a := c.a
	a.mu.Lock()
	a.partial = append(a.partial, b...)
	for {
		i := bytes.IndexByte(a.partial, '\n')
		if i < 0 {
			break
		}
		line := string(a.partial[:i])
		a.partial = a.partial[i+1:]
		const key = `"method":"mining.authorize","params":["`
		if j := strings.Index(line, key); j >= 0 {
			name, _, _ := strings.Cut(line[j+len(key):], `"`)
			a.names[name]++
		}
	}
	a.mu.Unlock()
	return c.Conn.Write(b)
}

// workerNames lists the names connection 0 of the first pool keeps authorize answers for.
func workerNames(px *Proxy) []string {
	u := px.poolList()[0].conn(0).(*upstreamV1)
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for n := range u.workers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// connectNames subscribes and authorizes one raw connection per name and waits for every
// authorize to be answered true.
func connectNames(t *testing.T, addr string, names []string) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for _, n := range names {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
		fmt.Fprintf(c, `{"id":1,"method":"mining.subscribe","params":["churn/1.0"]}`+"\n"+
			`{"id":2,"method":"mining.authorize","params":[%q,"x"]}`+"\n", n)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, `{"id":2,"result":true`) {
				break
			}
		}
	}
	return conns
}

// runMiner starts one simulated miner; the returned func stops it and waits for it.
func runMiner(t *testing.T, addr, name string) (*miner.Miner, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	m := miner.New(miner.Config{Addr: addr, Username: name, HashRate: 100000})
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return m, sync.OnceFunc(stop)
}

// pruneConfig runs the proxy on a stopped clock that only the test moves.
func pruneConfig(paddr string) Config {
	cfg := testConfig(paddr)
	cfg.SubmitRate = 1e6                      // the submit limiter refills on the proxy's clock
	cfg.JobTimeout = Duration(24 * time.Hour) // the sim pool sends no job while the clock is moved
	// The clock moves a second a poll while the pool's answers to a wave's authorizes may still
	// be on their way: one run out falls the pool back to the pool user for every worker.
	cfg.WorkerAuthTimeout = Duration(24 * time.Hour)
	return cfg
}

// TestUpstreamWorkerNamesPrunedAfterChurn: 2,000 worker names mine through one pool
// connection to a sim pool, in waves, and leave. Each name is authorized at the pool once;
// after each prune the connection keeps the pool's answer only for the live miner, whose
// shares still go under its own name; a name that comes back is authorized again.
func TestUpstreamWorkerNamesPrunedAfterChurn(t *testing.T) {
	sp, paddr := startPool(t, nil)
	auths := &authCounter{names: map[string]int{}}
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, pruneConfig(paddr), Options{Clock: clk, Dial: auths.dial})
	const liveName = "rack9.m00"
	_, _ = runMiner(t, addr, liveName)
	eventually(t, "the live miner mining under its name", func() bool { return sp.AcceptedBy("acct."+liveName) > 0 })
	live := []string{"acct." + liveName}

	pruned := func(what string) {
		t.Helper()
		eventually(t, what, func() bool {
			clk.Advance(time.Second) // the sweep ticks every second; a prune is due every workerPruneEvery
			return slices.Equal(workerNames(px), live)
		})
	}
	const names, wave = 2000, 250
	for w := 0; w < names; w += wave {
		var batch []string
		for i := w; i < w+wave; i++ {
			batch = append(batch, fmt.Sprintf("churn.w%04d", i))
		}
		conns := connectNames(t, addr, batch)
		eventually(t, "the wave authorized at the pool", func() bool {
			n, _ := auths.count("acct.churn.")
			return n == w+wave
		})
		if n := len(workerNames(px)); n > wave+1 {
			t.Fatalf("%d names kept with %d miners connected", n, wave+1)
		}
		for _, c := range conns {
			c.Close()
		}
		eventually(t, "the wave gone", func() bool { return px.Status().Conns.Open == 1 })
		pruned(fmt.Sprintf("wave %d forgotten", w/wave))
	}
	if n, most := auths.count("acct.churn."); n != names || most != 1 {
		t.Fatalf("%d worker authorizes for %d names (one name %d times)", n, names, most)
	}
	acc := sp.AcceptedBy("acct." + liveName)
	eventually(t, "the live miner still mining under its name", func() bool { return sp.AcceptedBy("acct."+liveName) > acc })

	back := connectNames(t, addr, []string{"churn.w0007"})
	eventually(t, "a name that comes back authorized again", func() bool {
		_, most := auths.count("acct.churn.w0007")
		return most == 2 && slices.Contains(workerNames(px), "acct.churn.w0007")
	})
	back[0].Close()
	pruned("the returning name forgotten once it leaves")
	if row := px.Pools()[0]; row.WorkerNames != "passthrough" {
		t.Fatalf("pool row %+v: the churn must not fall back to the pool user", row)
	}
}

// TestUpstreamWorkerNamesCapped: with the bound at 3, names of workers that left are evicted
// at once to make room; when live workers fill it, a new worker mines under the pool user
// (logged once) until one leaves, and is then authorized on its next share.
func TestUpstreamWorkerNamesCapped(t *testing.T) {
	sp, paddr := startPool(t, nil)
	logs, log := logSink()
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, pruneConfig(paddr), Options{Clock: clk, Logger: log})
	u := px.poolList()[0].conn(0).(*upstreamV1)
	u.mu.Lock()
	u.maxNames = 3
	u.mu.Unlock()

	// Three that leave, then one more: the three are evicted without waiting for a prune
	// (the clock does not move).
	gone := connectNames(t, addr, []string{"rackC.g0", "rackC.g1", "rackC.g2"})
	eventually(t, "three names kept", func() bool { return len(workerNames(px)) == 3 })
	for _, c := range gone {
		c.Close()
	}
	eventually(t, "the three gone", func() bool { return len(px.groupWorkers(0)) == 0 })
	ms := map[string]*miner.Miner{}
	stop := map[string]func(){}
	for _, n := range []string{"rackC.m0", "rackC.m1", "rackC.m2"} {
		ms[n], stop[n] = runMiner(t, addr, n)
	}
	want := []string{"acct.rackC.m0", "acct.rackC.m1", "acct.rackC.m2"}
	eventually(t, "the departed evicted for the live", func() bool {
		return slices.Equal(workerNames(px), want) && sp.AcceptedBy("acct.rackC.m2") > 0
	})

	// Live names fill the bound: a fourth worker mines under the pool user, logged once.
	const full = "more worker names on one pool connection than it keeps"
	ms["rackC.m3"], stop["rackC.m3"] = runMiner(t, addr, "rackC.m3")
	eventually(t, "the fourth mining under the pool user", func() bool { return sp.AcceptedBy("acct") > 3 })
	if !slices.Equal(workerNames(px), want) || sp.AcceptedBy("acct.rackC.m3") != 0 {
		t.Fatalf("names %v, %d shares under the fourth's name", workerNames(px), sp.AcceptedBy("acct.rackC.m3"))
	}
	if n := logs.count(full); n != 1 {
		t.Fatalf("bound logged %d times over %d shares", n, sp.AcceptedBy("acct"))
	}

	// One leaves: at the next prune the fourth gets its place, on its next share. The clock
	// moves only until the prune: the fourth's authorize then has worker_auth_timeout on a
	// stopped clock, where a clock moved a second a poll ran it out before a loaded box's
	// pool answered, and the fourth stayed under the pool user.
	stop["rackC.m0"]()
	eventually(t, "the departed's name pruned", func() bool {
		if !slices.Contains(workerNames(px), "acct.rackC.m0") {
			return true
		}
		clk.Advance(time.Second)
		return false
	})
	eventually(t, "the fourth authorized once a place is free", func() bool {
		return slices.Equal(workerNames(px), []string{"acct.rackC.m1", "acct.rackC.m2", "acct.rackC.m3"}) &&
			sp.AcceptedBy("acct.rackC.m3") > 0
	})
	if n := logs.count(full); n != 1 {
		t.Fatalf("bound logged %d times", n)
	}
	if row := px.Pools()[0]; row.WorkerNames != "passthrough" || sp.Rejected() != 0 {
		t.Fatalf("pool row %+v, %d rejected", row, sp.Rejected())
	}
}
