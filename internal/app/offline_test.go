package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
)

// policyApp is hashgate with a policy over one fleet group rack1.* and a console token of
// the given role, for tests that read and steer the console over HTTP.
type policyApp struct {
	t     *testing.T
	a     *App
	token string
}

func startPolicyApp(t *testing.T, role console.Role) *policyApp {
	t.Helper()
	return startPolicyAppWith(t, role, nil)
}

// startPolicyAppWith is startPolicyApp with the file changed by edit before it is validated.
func startPolicyAppWith(t *testing.T, role console.Role, edit func(*config.File)) *policyApp {
	t.Helper()
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token = "hg_e2e_token"
	f.Console.Tokens = []console.TokenConfig{{Name: "e2e", TokenHash: console.HashToken(token), Role: role}}
	f.Console.UpdateInterval = console.Duration(200 * time.Millisecond)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	if edit != nil {
		edit(&f)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })

	return &policyApp{t: t, a: a, token: token}
}

// miner runs a simulated miner under name until the returned stop (also at cleanup).
func (p *policyApp) miner(name string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		miner.New(miner.Config{Addr: p.a.Addrs[0].String(), Username: name, HashRate: 50000}).Run(ctx)
	}()
	stop = func() { cancel(); <-done }
	p.t.Cleanup(stop)
	return stop
}

// call sends a request with the token and decodes a 200 answer into v; it returns the status.
func (p *policyApp) call(method, path, body string, v any) int {
	p.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+p.a.ConsoleAddr.String()+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

// TestOfflineMinerListed runs hashgate with two simulated miners and reads the console over
// HTTP: a miner that disconnects stays in the miners list as offline, with when it was last
// seen and since when, and its page answers by name instead of 404; when it reconnects it
// is listed as connected again and the offline list is empty.
func TestOfflineMinerListed(t *testing.T) {
	p := startPolicyApp(t, console.RoleViewer)
	a, run := p.a, p.miner
	get := func(path string, v any) int { t.Helper(); return p.call("GET", path, "", v) }
	type row struct {
		ID           uint64 `json:"id"`
		Worker       string `json:"worker"`
		State        string `json:"state"`
		Group        string `json:"group"`
		LastSeen     int64  `json:"last_seen_ms"`
		OfflineSince int64  `json:"offline_since_ms"`
	}
	type page struct {
		Total   int   `json:"total"`
		Matched int   `json:"matched"`
		Workers []row `json:"workers"`
	}

	run("rack1.stay")
	stop := run("rack1.gone")
	waitFor(t, "both miners listed", func() bool {
		var pg page
		return get("/api/v1/workers", &pg) == 200 && pg.Total == 2 && pg.Workers[0].State != "connecting" && pg.Workers[1].State != "connecting"
	})
	if code := get("/api/v1/workers/rack1.gone", &struct{}{}); code != http.StatusOK {
		t.Fatalf("connected worker by name: %d", code)
	}
	waitFor(t, "the power inventory to have both", func() bool { return len(a.Power.Gates()) == 2 })
	before := time.Now().UnixMilli()
	stop()

	var off page
	waitFor(t, "rack1.gone listed offline", func() bool {
		return get("/api/v1/workers?state=offline", &off) == 200 && off.Matched == 1
	})
	g := off.Workers[0]
	if g.Worker != "rack1.gone" || g.State != "offline" || g.Group != "rack1" || g.ID != 0 ||
		g.OfflineSince < before || g.LastSeen < before-60_000 || g.LastSeen > g.OfflineSince {
		t.Fatalf("offline row %+v (disconnected after %d)", g, before)
	}
	var all page
	if get("/api/v1/workers", &all) != 200 || all.Total != 2 || all.Workers[0].Worker != "rack1.gone" || all.Workers[1].Worker != "rack1.stay" {
		t.Fatalf("the whole list: %+v", all)
	}
	var d struct{ Worker row }
	if code := get("/api/v1/workers/rack1.gone", &d); code != http.StatusOK || d.Worker.State != "offline" || d.Worker.OfflineSince != g.OfflineSince {
		t.Fatalf("offline worker's page: %d %+v", code, d.Worker)
	}
	if code := get("/api/v1/workers/rack1.never", &d); code != http.StatusNotFound {
		t.Fatalf("a name never seen: %d, want 404", code)
	}

	run("rack1.gone")
	waitFor(t, "rack1.gone back", func() bool {
		var pg, off page
		return get("/api/v1/workers?state=offline", &off) == 200 && off.Matched == 0 &&
			get("/api/v1/workers?q=rack1.gone", &pg) == 200 && pg.Matched == 1 && pg.Workers[0].ID != 0
	})
}
