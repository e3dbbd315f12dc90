package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestOfflineMinerListed runs hashgate with two simulated miners and reads the console over
// HTTP: a miner that disconnects stays in the miners list as offline, with when it was last
// seen and since when, and its page answers by name instead of 404; when it reconnects it
// is listed as connected again and the offline list is empty.
func TestOfflineMinerListed(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token = "hg_e2e_viewer_token"
	f.Console.Tokens = []console.TokenConfig{{Name: "e2e", TokenHash: console.HashToken(token), Role: console.RoleViewer}}
	f.Console.UpdateInterval = console.Duration(200 * time.Millisecond)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	f.Policy = &p
	f.Fleet = []policy.FleetGroup{{Name: "rack1", Pattern: "rack1.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}}
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source = "grid", meter.RoleSiteImport, meter.KindSim
	m.Trace = []meter.TracePoint{{Offset: 0, Value: 100}}
	m.Loop = true
	m.Interval = meter.Duration(100 * time.Millisecond)
	f.Meter = []meter.Config{m.WithDefaults()}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	run := func(name string) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: name, HashRate: 50000}).Run(ctx)
		}()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return stop
	}
	base := "http://" + a.ConsoleAddr.String()
	get := func(path string, v any) int {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatalf("%s: %v: %s", path, err, body)
			}
		}
		return res.StatusCode
	}
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
