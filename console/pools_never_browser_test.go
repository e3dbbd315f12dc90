package console

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/browsertest"
	"github.com/hashgate/hashgate/proxy"
)

// TestBrowserPoolNeverConnected: the real proxy's row for its only pool, whose dial is
// refused, shows on the pools page as standby (no PRIMARY or BACKUP for a lone pool), down for
// the dial error itself, with accepted, rejected and stale counts and "never" for its last
// job (not an age from year 1). With two pools, the first in priority order is primary and the
// other backup.
func TestBrowserPoolNeverConnected(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfg := proxy.DefaultConfig()
	cfg.Pools = []proxy.PoolConfig{{Name: "only", URL: "stratum+tcp://" + dead, User: "acct", Password: "x"}}
	px, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	px.Start(ctx)
	defer px.Close()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(px.Pools()[0].Reason, "connection refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no dial error on the pool row: %+v", px.Pools()[0])
		}
		time.Sleep(20 * time.Millisecond)
	}

	b := newFleetBackend(2, false)
	b.pools = px.Pools() // the real row
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	br := browsertest.New(t, ts.URL, artifacts)
	br.SignIn("alice", adminPassword)
	const rows = `[...document.querySelectorAll('#pools-body tr')]`
	const cell = rows + `[0].children`
	br.Page("pools", rows+`.length === 1`)
	br.WaitFor("the dial error as the reason", cell+`[1].textContent.includes('dial tcp `+dead+`: connect: connection refused') && !`+cell+`[1].textContent.includes('disconnected')`)
	br.WaitFor("a lone pool labelled standby, not backup", cell+`[2].textContent === 'standby'`)
	br.WaitFor("the share counts", cell+`[7].textContent === '0' && `+cell+`[8].textContent === '0 (0.00%)' && `+cell+`[9].textContent === '0'`)
	br.WaitFor("never for the last job", cell+`[12].textContent === 'never'`)
	br.Shot("pools-never-connected")

	b.mu.Lock()
	up := b.pools[0]
	up.Name, up.State, up.Active, up.Reason = "main", "up", true, ""
	up.Shares = map[string]uint64{"pool_accepted": 990, "pool_rejected": 10}
	up.Stale = 7
	b.pools = []proxy.PoolStats{up, px.Pools()[0]}
	b.mu.Unlock()
	br.WaitFor("two pools", rows+`.length === 2`)
	br.WaitFor("primary and backup by priority", rows+`[0].children[2].textContent === 'primary active' && `+rows+`[1].children[2].textContent === 'backup standby'`)
	br.WaitFor("the first pool's counts", rows+`[0].children[7].textContent === '990' && `+rows+`[0].children[8].textContent === '10 (1.00%)' && `+rows+`[0].children[9].textContent === '7'`)
	br.Shot("pools-primary-backup")
}

// TestBrowserPausedHashrate: a paused worker's hashrate cell and its detail say paused, not a
// number; a running worker's cell shows its rate with the three windows on hover; a group
// whose miners are all paused says paused too.
func TestBrowserPausedHashrate(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	b := newFleetBackend(4, true)
	for i := range b.workers {
		w := &b.workers[i]
		w.Hashrate, w.Hashrate5m, w.Hashrate1h, w.Hashrate24h = 2e12, 2e12, 1e12, 5e11
		if i%2 == 1 { // all of rack2
			w.State, w.Hashrate = "paused", 0
		}
	}
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	br := browsertest.New(t, ts.URL, artifacts)
	br.SignIn("alice", adminPassword)
	const rows = `[...document.querySelectorAll('#miners-body tr.clickable')]`
	br.Page("miners", rows+`.length === 4`)
	br.WaitFor("paused cells", rows+`.filter(r => r.children[3].textContent === 'paused').length === 2`)
	br.WaitFor("running cells with windows", rows+`.filter(r => r.children[3].textContent === '2.00 TH/s' && r.children[3].title === '5 min 2.00 TH/s · 1 h 1.00 TH/s · 24 h 500 GH/s').length === 2`)
	br.Click("a paused worker's detail", `#miners-body tr.clickable[data-id="2"]`)
	br.WaitFor("the detail says paused", `[...document.querySelectorAll('#d-fields dd')].filter(d => d.textContent === 'paused').length === 3`) // state, hashrate, windows
	br.Page("policy", `document.querySelectorAll('#groups-body tr').length === 2`)
	br.WaitFor("the paused group", `document.querySelector('#groups-body tr[data-group="rack2"]').children[9].textContent === 'paused' && document.querySelector('#groups-body tr[data-group="rack1"]').children[9].textContent === '4.00 TH/s'`)
	br.Shot("paused-hashrate")
}
