package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
)

const (
	siteViewer = "hg_site_viewer"
	siteAdmin  = "hg_site_admin"
)

// startSiteApp runs a hashgate of site "s1" whose console has a viewer and an admin token;
// the site's limit is far above its miners so the policy leaves them running.
func startSiteApp(t *testing.T, paddr, name, consoleURL string, cc cluster.Config) *App {
	t.Helper()
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Console.Tokens = []console.TokenConfig{
		{Name: "v", TokenHash: console.HashToken(siteViewer), Role: console.RoleViewer},
		{Name: "ops", TokenHash: console.HashToken(siteAdmin), Role: console.RoleAdmin}}
	f.Console.Users = []console.UserConfig{{Name: "olga", PasswordHash: sitePasswordHash(t), Role: console.RoleAdmin}}
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 1
	p.Interval = policy.Duration(100 * time.Millisecond)
	// Short dwell times: a resumed miner runs again within the test.
	p.MinRun, p.MinPause, p.RestoreInterval = policy.Duration(200*time.Millisecond), policy.Duration(200*time.Millisecond), policy.Duration(200*time.Millisecond)
	simSite(&f, p)
	cc.Site, cc.Instance, cc.ConsoleURL = "s1", name, consoleURL
	cc.LeaseTTL, cc.StaleAfter = cluster.Duration(2*time.Second), cluster.Duration(6*time.Second)
	f.Cluster = &cc
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

var siteHash struct {
	sync.Once
	h string
}

// sitePasswordHash is olga's password hash ("site page password"), made once: it is slow.
func sitePasswordHash(t *testing.T) string {
	siteHash.Do(func() { siteHash.h, _ = console.HashPassword("site page password") })
	if siteHash.h == "" {
		t.Fatal("no password hash")
	}
	return siteHash.h
}

func siteCall(t *testing.T, a *App, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+a.ConsoleAddr.String()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// getJSON is GET path on a's console as token, its 200 answer decoded.
func getJSON[T any](t *testing.T, a *App, token, path string) T {
	t.Helper()
	code, body := siteCall(t, a, token, http.MethodGet, path, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func siteOf(t *testing.T, a *App) cluster.Site {
	t.Helper()
	return getJSON[cluster.Site](t, a, siteViewer, "/api/v1/site")
}

type sitePageBody struct {
	Total int                 `json:"total"`
	Rows  []cluster.SiteMiner `json:"rows"`
}

func sitePage(t *testing.T, a *App, query string) sitePageBody {
	t.Helper()
	return getJSON[sitePageBody](t, a, siteViewer, "/api/v1/site/workers"+query)
}

// TestSiteConsoleActsOnTheOwner: two hashgates share site s1 over the first one's embedded
// NATS server. Either console lists both instances (role, epoch, health, console URL, miner
// counts) and both instances' miners; a pause sent to hall-a's console reaches hall-b over
// NATS, gates hall-b's miner there, and is audited on hall-b with the operator and the
// console it came from; hall-a's own miner keeps running. Bad requests are refused.
func TestSiteConsoleActsOnTheOwner(t *testing.T) {
	_, paddr := startTestPool(t)
	embed, reach := siteNATS(t)
	a := startSiteApp(t, paddr, "hall-a", "https://hall-a.example:8080", embed)
	b := startSiteApp(t, paddr, "hall-b", "https://hall-b.example:8080", reach)
	runMiner(t, a, "rack1.a0")
	runMiner(t, b, "rack1.b0")
	runMiner(t, b, "rack1.b1")

	waitFor(t, "both consoles show both instances with their cards and miners", func() bool {
		for _, x := range []*App{a, b} {
			s := siteOf(t, x)
			if len(s.Instances) != 2 || s.Epoch == 0 || s.Leader == "" {
				return false
			}
			leaders := 0
			for _, in := range s.Instances {
				want := map[string]int{"hall-a": 1, "hall-b": 2}[in.Name]
				if in.Role == cluster.RoleLeader {
					leaders++
				}
				if in.Miners != want || in.Workers != want || !in.Healthy || in.Stale || in.Epoch != s.Epoch ||
					in.ConsoleURL != "https://"+in.Name+".example:8080" || in.LastHeard.IsZero() {
					return false
				}
			}
			if leaders != 1 {
				return false
			}
		}
		return true
	})
	if s := siteOf(t, a); s.Instance != "hall-a" || !s.Instances[0].Self || s.Instances[1].Self {
		t.Fatalf("hall-a's site view: %+v", s)
	}

	// The site's miners, paged and filtered.
	all := sitePage(t, a, "")
	if all.Total != 3 || len(all.Rows) != 3 || all.Rows[0].Worker != "rack1.a0" || all.Rows[0].Instance != "hall-a" ||
		all.Rows[2].Worker != "rack1.b1" || all.Rows[2].Instance != "hall-b" || all.Rows[2].Group != "rack1" {
		t.Fatalf("site workers: %+v", all)
	}
	if p := sitePage(t, a, "?offset=1&limit=1"); p.Total != 3 || len(p.Rows) != 1 || p.Rows[0].Worker != "rack1.b0" {
		t.Fatalf("second page of one: %+v", p)
	}
	if p := sitePage(t, b, "?instance=hall-a"); p.Total != 1 || p.Rows[0].Worker != "rack1.a0" {
		t.Fatalf("hall-a's miners seen from hall-b: %+v", p)
	}
	if p := sitePage(t, a, "?q=b1"); p.Total != 1 || p.Rows[0].Worker != "rack1.b1" {
		t.Fatalf("search b1: %+v", p)
	}
	if p := sitePage(t, a, "?offset=9"); p.Total != 3 || len(p.Rows) != 0 {
		t.Fatalf("past the end: %+v", p)
	}

	// A pause on hall-a's console for a worker of hall-b and one nobody reports.
	code, body := siteCall(t, a, siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":["rack1.b0","ghost.9"]}`)
	if code != http.StatusOK {
		t.Fatalf("site pause: %d %s", code, body)
	}
	var res struct {
		Actor   string             `json:"actor"`
		Done    int                `json:"done"`
		Failed  int                `json:"failed"`
		Results []cluster.OpResult `json:"results"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Actor != "token:ops@hall-a" || res.Done != 1 || res.Failed != 1 || len(res.Results) != 2 ||
		!res.Results[0].OK || res.Results[0].Instance != "hall-b" || res.Results[1].OK || res.Results[1].Error != cluster.ErrNoOwner.Error() {
		t.Fatalf("site pause answer: %s", body)
	}
	waitFor(t, "hall-b's miner paused at hall-b", func() bool { return workerState(b, "rack1.b0") == "paused" })
	if workerState(a, "rack1.a0") != "running" || workerState(b, "rack1.b1") != "running" {
		t.Fatalf("other miners: a0 %s, b1 %s", workerState(a, "rack1.a0"), workerState(b, "rack1.b1"))
	}
	// Audited on the owner, with who asked and from which console.
	waitFor(t, "the pause in hall-b's audit trail", func() bool {
		_, ev := siteCall(t, b, siteViewer, http.MethodGet, "/api/v1/events?limit=200", "")
		return bytes.Contains(ev, []byte("token:ops@hall-a")) && bytes.Contains(ev, []byte("rack1.b0"))
	})
	waitFor(t, "hall-b's card counts the paused worker", func() bool {
		for _, in := range siteOf(t, a).Instances {
			if in.Name == "hall-b" {
				return in.Paused == 1
			}
		}
		return false
	})

	// Resumed from hall-b's own console: the owner's own miner, no NATS round trip.
	code, body = siteCall(t, b, siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"resume","workers":["rack1.b0"]}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"done":1`) {
		t.Fatalf("site resume: %d %s", code, body)
	}
	waitFor(t, "hall-b's miner running again", func() bool { return workerState(b, "rack1.b0") == "running" })
	// And the site's policy settled on it: the leader took the operator's pause as a pause of
	// its own, and an order of it still on its way (a retry on a loaded box) may land after
	// the resume and gate the miner until the leader restores it.
	waitFor(t, "the leader holding rack1.b0 running, no order for it on its way", func() bool {
		for _, x := range []*App{a, b} {
			if r := x.Cluster.Runner(); r != nil {
				for _, m := range r.Snapshot().Miners {
					if m.ID == "rack1.b0" {
						return m.Commanded.Action == policy.ActionRun && !m.Commanded.Pending && !m.Inflight && !m.Pending &&
							workerState(b, "rack1.b0") == "running"
					}
				}
			}
		}
		return false
	})

	// Refused requests change nothing.
	for _, c := range []struct {
		token, method, path, body string
		want                      int
	}{
		{siteViewer, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":["rack1.b0"]}`, http.StatusForbidden},
		{siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"reboot","workers":["rack1.b0"]}`, http.StatusBadRequest},
		{siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":[]}`, http.StatusBadRequest},
		{siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":["rack1.b0","rack1.b0"]}`, http.StatusBadRequest},
		{siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":["` + strings.Repeat("x", 300) + `"]}`, http.StatusBadRequest},
		{siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":["rack1.b0"],"extra":1}`, http.StatusBadRequest},
		{siteViewer, http.MethodGet, "/api/v1/site/workers?limit=0", "", http.StatusBadRequest},
		{siteViewer, http.MethodGet, "/api/v1/site/workers?limit=501", "", http.StatusBadRequest},
		{siteViewer, http.MethodGet, "/api/v1/site/workers?offset=-1", "", http.StatusBadRequest},
		{siteViewer, http.MethodGet, "/api/v1/site/workers?sort=name", "", http.StatusBadRequest},
		{"wrong", http.MethodGet, "/api/v1/site", "", http.StatusUnauthorized},
	} {
		if code, body := siteCall(t, a, c.token, c.method, c.path, c.body); code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, body, c.want)
		}
	}
	if workerState(b, "rack1.b0") != "running" {
		t.Fatalf("a refused request changed rack1.b0: %s", workerState(b, "rack1.b0"))
	}

	// Hostile messages on the site's subjects: every bad request answered with its error,
	// bad cards dropped, the desks counting them and serving on.
	nc, err := nats.Connect(reach.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, bad := range []string{
		`not json`,
		`{"action":"reboot","actor":"x","workers":["rack1.b0"]}`,
		`{"action":"pause","actor":"","workers":["rack1.b0"]}`,
		`{"action":"pause","actor":"x","workers":[]}`,
		`{"action":"pause","actor":"x","workers":["rack1.b0","rack1.b0"]}`,
		`{"action":"pause","actor":"x","workers":["rack1.b0"]} {}`,
	} {
		msg, err := nc.Request("hashgate.s1.op.hall-b", []byte(bad), 20*time.Second)
		if err != nil {
			t.Fatalf("%s: no answer: %v", bad, err)
		}
		var r cluster.OpReply
		if err := json.Unmarshal(msg.Data, &r); err != nil || r.Err == "" || len(r.Results) != 0 {
			t.Fatalf("%s: answer %s", bad, msg.Data)
		}
	}
	before := a.Desk.Counters().Refused
	now := time.Now().UTC().Format(time.RFC3339)
	for _, bad := range []struct{ subj, body string }{
		{"hashgate.s1.card.hall-b", `{"instance":"hall-c","role":"leader","epoch":1,"healthy":true,"workers":1,"at":"` + now + `"}`},
		{"hashgate.s1.card.hall-b", `{"instance":"hall-b","role":"leader","workers":1,"paused":5,"at":"` + now + `"}`},
		{"hashgate.s1.card.hall-b", `{"instance":"hall-b","role":"emperor","at":"` + now + `"}`},
		{"hashgate.s1.card.hall-b", `{"instance":"hall-b","workers":1}`},
		{"hashgate.s1.card.x", strings.Repeat("[", 2<<20)},
	} {
		if err := nc.Publish(bad.subj, []byte(bad.body)); err != nil && !strings.Contains(bad.subj, ".x") {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	waitFor(t, "hall-a refusing the four bad cards", func() bool { return a.Desk.Counters().Refused >= before+4 })
	for _, in := range siteOf(t, a).Instances {
		if in.Name == "hall-c" || in.Paused > in.Workers {
			t.Fatalf("a bad card reached the site view: %+v", in)
		}
	}
	if st := b.Desk.Counters(); st.Refused < 6 || st.Served < 1 {
		t.Fatalf("hall-b's desk counters: %+v", st)
	}
	// Still serving after all that.
	code, body = siteCall(t, a, siteAdmin, http.MethodPost, "/api/v1/site/workers/bulk", `{"action":"pause","workers":["rack1.b1"]}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"done":1`) {
		t.Fatalf("site pause after hostile messages: %d %s", code, body)
	}
	waitFor(t, "rack1.b1 paused", func() bool { return workerState(b, "rack1.b1") == "paused" })
}

// Without a [cluster] table there is no site console.
func TestNoClusterNoSiteConsole(t *testing.T) {
	p := startPolicyApp(t, console.RoleViewer)
	for _, path := range []string{"/api/v1/site", "/api/v1/site/workers"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.a.ConsoleAddr.String()+path, nil)
		req.Header.Set("Authorization", "Bearer "+p.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || p.a.Desk != nil {
			t.Fatalf("single instance: %s %d", path, res.StatusCode)
		}
	}
}
