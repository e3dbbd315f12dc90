package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
)

// rawV1 is a miner over a bare socket that records what the proxy sends it.
type rawV1 struct {
	c      net.Conn
	honour bool // closes its connection when told client.reconnect, as ESP-Miner does
	mu     sync.Mutex
	lines  []string
	told   bool
	closed bool
}

func dialRawV1(t *testing.T, addr, worker string, honour bool) *rawV1 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := &rawV1{c: c, honour: honour}
	fmt.Fprintf(c, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[%q,\"x\"]}\n", worker)
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			m.mu.Lock()
			m.lines = append(m.lines, sc.Text())
			if strings.Contains(sc.Text(), `"client.reconnect"`) && !m.told {
				m.told = true
				if m.honour {
					c.Close()
				}
			}
			m.mu.Unlock()
		}
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	}()
	return m
}

func (m *rawV1) state() (told, closed, mining bool, lines []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.lines {
		if strings.Contains(l, `"mining.notify"`) {
			mining = true
		}
	}
	return m.told, m.closed, mining, append([]string(nil), m.lines...)
}

// TestDrainSpreadsReconnects: after StopAccepting the listener refuses (no other process holds
// it here) while connected miners keep their sessions; Drain then tells one miner at a time,
// period/N apart on the proxy's clock, client.reconnect with empty params (reconnect to the same
// server), and closes those that ignore it ReconnectGrace later, not before. A miner that
// honours it closes at once without disturbing the others.
func TestDrainSpreadsReconnects(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	cfg := testConfig(paddr)
	cfg.SubmitRate = 1e6
	px, addr := startProxy(t, cfg, Options{Clock: clk})
	const n = 4
	var ms []*rawV1
	for i := range n {
		ms = append(ms, dialRawV1(t, addr, fmt.Sprintf("acct.d%d", i), i == 0))
	}
	eventually(t, "every miner has work", func() bool {
		for _, m := range ms {
			if _, _, mining, _ := m.state(); !mining {
				return false
			}
		}
		return true
	})
	px.StopAccepting()
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after StopAccepting")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after StopAccepting: %v", err)
	}
	told := func() (k int) {
		for _, m := range ms {
			if tl, _, _, _ := m.state(); tl {
				k++
			}
		}
		return k
	}

	closedIgnoring := func() (k int) {
		for _, m := range ms[1:] {
			if _, closed, _, _ := m.state(); closed {
				k++
			}
		}
		return k
	}

	// Timers fire only when the test moves the clock, so what has happened by a clock time
	// is bounded exactly: at most one miner told per step begun, and one that ignored it closed
	// no sooner than ReconnectGrace after.
	const step = time.Second
	start := clk.Now()
	done := make(chan int, 1)
	go func() { done <- px.Drain(context.Background(), n*step) }()
	deadline := time.Now().Add(time.Minute)
	drained := -1
	for drained < 0 || closedIgnoring() < n-1 {
		elapsed := clk.Now().Sub(start)
		if k, most := told(), min(n, int(elapsed/step)+1); k > most {
			t.Fatalf("%d miners told %s into the drain, at most %d", k, elapsed, most)
		}
		most := 0
		if elapsed >= ReconnectGrace {
			most = int((elapsed-ReconnectGrace)/step) + 1
		}
		if k := closedIgnoring(); k > most {
			t.Fatalf("%d miners that ignored the reconnect closed %s into the drain, at most %d", k, elapsed, most)
		}
		select {
		case drained = <-done:
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s on the clock: %d told, %d closed, drain returned %d", elapsed, told(), closedIgnoring(), drained)
		}
		clk.Advance(50 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
	if drained != n {
		t.Fatalf("Drain told %d, want %d", drained, n)
	}
	if elapsed := clk.Now().Sub(start); elapsed < (n-1)*step+ReconnectGrace {
		t.Fatalf("drained in %s on the clock, sooner than the period and the grace", elapsed)
	}
	for _, m := range ms[1:] {
		_, _, _, lines := m.state()
		if last := lines[len(lines)-1]; last != `{"id":null,"method":"client.reconnect","params":[]}` {
			t.Errorf("the reconnect line: %s", last)
		}
	}
	eventually(t, "no miner left", func() bool { return len(px.Workers()) == 0 })
}

// TestDrainEndsWithItsContext: a cancelled drain returns at once with how many it told.
func TestDrainEndsWithItsContext(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, testConfig(paddr), Options{Clock: clk})
	var ms []*rawV1
	for i := range 3 {
		ms = append(ms, dialRawV1(t, addr, fmt.Sprintf("acct.c%d", i), false))
	}
	eventually(t, "three miners connected", func() bool { return len(px.Workers()) == 3 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- px.Drain(ctx, time.Hour) }()
	eventually(t, "one told", func() bool {
		k := 0
		for _, m := range ms {
			if tl, _, _, _ := m.state(); tl {
				k++
			}
		}
		return k == 1
	})
	cancel()
	select {
	case k := <-done:
		if k != 1 {
			t.Fatalf("told %d", k)
		}
	case <-time.After(time.Minute):
		t.Fatal("a cancelled drain did not return")
	}
	for _, m := range ms {
		if told, closed, _, _ := m.state(); !told && closed {
			t.Fatal("a miner not told was closed")
		}
	}
}

// TestPausedWorkersAndHasWork: the gates a process hands over are listed sorted, and a proxy
// has work once its pool has sent a job.
func TestPausedWorkersAndHasWork(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, err := New(testConfig(paddr), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	if px.HasWork() {
		t.Fatal("work before Start")
	}
	px.Pause("b.2")
	px.Pause("a.1")
	px.Pause("c.3")
	px.Resume("c.3")
	if got := px.PausedWorkers(); strings.Join(got, ",") != "a.1,b.2" {
		t.Fatalf("paused %v", got)
	}
	px.Start(context.Background())
	eventually(t, "work from the pool", px.HasWork)
}
