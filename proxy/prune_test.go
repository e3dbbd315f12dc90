package proxy

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// proxyWorkerState counts what the proxy holds per worker name and per connection.
func proxyWorkerState(p *Proxy) (channels, byWorker, paused, grouped, slots int) {
	p.mu.Lock()
	channels, byWorker, paused = len(p.channels), len(p.byWorker), len(p.paused)
	groups := append([]*group(nil), p.groups...)
	p.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		grouped += len(g.miners)
		g.mu.Unlock()
	}
	p.alloc.mu.Lock()
	for _, conn := range p.alloc.used {
		for _, u := range conn {
			if u {
				slots++
			}
		}
	}
	p.alloc.mu.Unlock()
	return
}

// TestChurnedNamesLeaveNoProxyState: 2,000 worker names connect over loopback, some paused
// while connected, and go. What the proxy keeps per connection and per name (channels, the
// name index, group membership, extranonce slots) is back to the one live miner; the gate
// keeps only the names its owner still holds closed.
func TestChurnedNamesLeaveNoProxyState(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, testConfig(paddr), Options{})
	live := startMiners(t, addr, 1, "rack9", nil)[0]
	eventually(t, "the live miner mining", func() bool { return live.Stats.Accepted.Load() > 0 })
	const names, wave = 2000, 250
	for w := 0; w < names; w += wave {
		var conns []net.Conn
		for i := w; i < w+wave; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			fmt.Fprintf(c, `{"id":1,"method":"mining.subscribe","params":["churn/1.0"]}`+"\n"+
				`{"id":2,"method":"mining.authorize","params":["churn.w%04d","x"]}`+"\n", i)
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
		px.Pause(fmt.Sprintf("churn.w%04d", w))   // held closed by its owner after it goes
		px.Pause(fmt.Sprintf("churn.w%04d", w+1)) // and released
		px.Resume(fmt.Sprintf("churn.w%04d", w+1))
		for _, c := range conns {
			c.Close()
		}
		// A closing connection leaves the channel table first and gives its extranonce slot
		// back last, so wait for all of it: a leak never comes back to one.
		eventually(t, "the wave gone from channels, names, groups and slots", func() bool {
			ch, byWorker, _, grouped, slots := proxyWorkerState(px)
			return ch == 1 && byWorker == 1 && grouped == 1 && slots == 1
		})
	}
	channels, byWorker, paused, grouped, slots := proxyWorkerState(px)
	if channels != 1 || byWorker != 1 || grouped != 1 || slots != 1 || paused != names/wave {
		t.Fatalf("after the churn: %d channels, %d names indexed, %d in groups, %d slots, %d gates closed; want 1, 1, 1, 1, %d",
			channels, byWorker, grouped, slots, paused, names/wave)
	}
	for w := 0; w < names; w += wave {
		px.Resume(fmt.Sprintf("churn.w%04d", w))
	}
	if _, _, paused, _, _ := proxyWorkerState(px); paused != 0 {
		t.Fatalf("%d gates closed after every hold was released", paused)
	}
	stillMiningV1(t, live)
}
