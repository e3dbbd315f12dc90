package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// memberPools is the split's member pools now.
func memberPools(px *Proxy) []*pool {
	px.split.mu.Lock()
	defer px.split.mu.Unlock()
	var out []*pool
	for _, m := range px.split.members {
		out = append(out, m.pl)
	}
	return out
}

// hammer runs f back to back on n goroutines until stop, which waits for them to return and
// may be called again.
func hammer(n int, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				f()
			}
		}()
	}
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// lockedBuffer is a log sink several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPoolsRuntimeRemoveRacesFailover: console edits add a weighted pool to a split and
// remove it again, 30 times, while failover checks run back to back (as the supervisor's,
// new jobs' and edits' do). No check decided from the list an edit replaced may commit
// after it: the log never shows a split or a switch to a pool after the line that closed it,
// and once an edit returns neither the active pool nor a split member is a removed pool.
func TestPoolsRuntimeRemoveRacesFailover(t *testing.T) {
	_, a1 := startPool(t, nil)
	_, a2 := startPool(t, nil)
	cfg := testConfig(a1)
	cfg.Pools[0].Weight = 50
	var logs lockedBuffer
	lg := zerolog.New(&logs)
	px, _ := startProxy(t, cfg, Options{Logger: &lg})
	base := px.PoolConfigs()
	eventually(t, "the first pool active", activeIs(px, "pool0"))

	halt := hammer(2, px.maybeFailover)
	defer halt()

	for i := range 30 {
		name := fmt.Sprintf("extra-%02d", i)
		set := append(slices.Clone(base), PoolConfig{Name: name, URL: "stratum+tcp://" + a2, User: "acct", Password: "x", Weight: 50})
		if err := px.SetPools(set); err != nil {
			t.Fatal(err)
		}
		eventually(t, name+" in the split", func() bool { return len(memberPools(px)) == 2 })
		if err := px.SetPools(base); err != nil {
			t.Fatal(err)
		}
		list := px.poolList()
		if a := px.activePool(); a != nil && !slices.Contains(list, a) {
			t.Fatalf("%s is active after its removal returned", a.cfg.Name)
		}
		for _, m := range memberPools(px) {
			if !slices.Contains(list, m) {
				t.Fatalf("%s is in the split after its removal returned", m.cfg.Name)
			}
		}
	}
	halt()

	closed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var ln struct {
			Msg   string `json:"message"`
			Pool  string `json:"pool"`
			Pools string `json:"pools"`
			To    string `json:"to"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		switch ln.Msg {
		case "pool closed by a console edit":
			closed[ln.Pool] = true
		case "hashrate split between pools":
			for _, n := range strings.Split(ln.Pools, ", ") {
				if closed[n] {
					t.Errorf("split committed with %s after it was closed: %s", n, sc.Text())
				}
			}
		case "switching pool":
			if closed[ln.To] {
				t.Errorf("switched to %s after it was closed: %s", ln.To, sc.Text())
			}
		}
	}
	if len(closed) != 30 {
		t.Fatalf("%d pools closed, want 30", len(closed))
	}
}
