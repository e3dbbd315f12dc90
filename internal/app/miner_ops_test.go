package app

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/browsertest"
	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

const firmwareSitePassword = "correct horse battery"

// firmwareSite is hashgate over simulated firmware: bos.a and bos.b run Braiins OS (power
// target, locate LED, hardware data), axe.a a Bitaxe (no power target, no LED). The console
// has an admin user, an admin token and a viewer token.
type firmwareSite struct {
	*policyApp
	sims        map[string]*simfw.Miner
	viewerToken string
}

func startFirmwareSite(t *testing.T) *firmwareSite {
	t.Helper()
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token, viewer = "hg_e2e_token", "hg_e2e_viewer"
	hash, err := console.HashPassword(firmwareSitePassword)
	if err != nil {
		t.Fatal(err)
	}
	f.Console.Users = []console.UserConfig{{Name: "alice", PasswordHash: hash, Role: console.RoleAdmin}}
	f.Console.Tokens = []console.TokenConfig{{Name: "e2e", TokenHash: console.HashToken(token), Role: console.RoleAdmin},
		{Name: "view", TokenHash: console.HashToken(viewer), Role: console.RoleViewer}}
	f.Console.UpdateInterval = console.Duration(200 * time.Millisecond)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	f.Power.TelemetryInterval = tomltime.Duration(300 * time.Millisecond)
	sims := map[string]*simfw.Miner{}
	endpoint := func(name string, serve func(*simfw.Miner) (interface{ Close() error }, func(string) (interface{ String() string }, error))) string {
		m, err := simfw.NewMiner(simfw.DefaultMinerConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv, listen := serve(m)
		a, err := listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		sims[name] = m
		return a.String()
	}
	braiins := func(m *simfw.Miner) (interface{ Close() error }, func(string) (interface{ String() string }, error)) {
		s := simfw.NewBraiins(m, nil, "", "", 0, zerolog.Nop())
		return s, func(a string) (interface{ String() string }, error) { return s.Listen(a) }
	}
	bitaxe := func(m *simfw.Miner) (interface{ Close() error }, func(string) (interface{ String() string }, error)) {
		s := simfw.NewBitaxe(m, zerolog.Nop())
		return s, func(a string) (interface{ String() string }, error) { return s.Listen(a) }
	}
	f.Fleet = []policy.FleetGroup{
		{Name: "bos", Pattern: "bos.*", Firmware: "braiins", RatedKW: 3.5, MinKW: 1.5, EfficiencyJTH: 17.5, Priority: 1,
			Addresses: map[string]string{"bos.a": endpoint("bos.a", braiins), "bos.b": endpoint("bos.b", braiins)}},
		{Name: "axe", Pattern: "axe.*", Firmware: "bitaxe", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1,
			Addresses: map[string]string{"axe.a": endpoint("axe.a", bitaxe)}},
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	s := &firmwareSite{policyApp: &policyApp{t: t, a: a, token: token}, sims: sims, viewerToken: viewer}
	for _, w := range []string{"bos.a", "bos.b", "axe.a"} {
		s.miner(w)
	}
	return s
}

// workerHardware is the part of GET /api/v1/workers/{id} these tests read.
type workerHardware struct {
	Hardware *struct {
		Firmware      string   `json:"firmware"`
		Controllable  bool     `json:"controllable"`
		State         string   `json:"state"`
		PowerW        *float64 `json:"power_w"`
		JPerTH        *float64 `json:"j_per_th"`
		BoardTempC    *float64 `json:"board_temp_c"`
		ChipTempC     *float64 `json:"chip_temp_c"`
		FansRPM       []int    `json:"fans_rpm"`
		BoardsWorking *int     `json:"boards_working"`
		BoardsTotal   *int     `json:"boards_total"`
		UptimeS       *int64   `json:"uptime_s"`
		ProfileW      int      `json:"power_profile_w"`
	} `json:"hardware"`
}

type bulkAnswer struct {
	Done, Failed int
	Results      []struct {
		Worker   string `json:"worker"`
		OK       bool   `json:"ok"`
		Error    string `json:"error"`
		Deferred bool   `json:"deferred"`
	}
}

// TestMinerDetailAndFirmwareBulk reads a miner's hardware and hashrate history over the
// console API and runs bulk locate, reboot and power profile through the real wiring: each
// worker's outcome on its own, audited per worker with the actor, bad requests refused.
func TestMinerDetailAndFirmwareBulk(t *testing.T) {
	s := startFirmwareSite(t)
	var d workerHardware
	waitFor(t, "bos.a's hardware in its detail", func() bool {
		d = workerHardware{}
		return s.call("GET", "/api/v1/workers/bos.a", "", &d) == http.StatusOK && d.Hardware != nil && d.Hardware.ChipTempC != nil
	})
	hw := d.Hardware
	if hw.Firmware != "braiins" || !hw.Controllable || hw.State != "running" || math.Abs(*hw.ChipTempC-80) > 1 ||
		math.Abs(*hw.BoardTempC-65) > 1 || len(hw.FansRPM) != 4 || hw.FansRPM[0] != 6000 || *hw.BoardsWorking != 3 ||
		*hw.BoardsTotal != 3 || hw.UptimeS == nil || hw.JPerTH == nil || math.Abs(*hw.JPerTH-17.5) > 0.1 {
		t.Fatalf("bos.a hardware %+v", *hw)
	}
	waitFor(t, "axe.a's hardware", func() bool {
		d = workerHardware{}
		return s.call("GET", "/api/v1/workers/axe.a", "", &d) == http.StatusOK && d.Hardware != nil && d.Hardware.ChipTempC != nil
	})
	if d.Hardware.BoardsTotal != nil || d.Hardware.Firmware != "bitaxe" {
		t.Fatalf("axe.a reports hashboards its API does not have: %+v", *d.Hardware)
	}

	// History from the share roll-up, per window.
	var h struct {
		Window string
		StepS  int64 `json:"step_s"`
		Points []struct {
			AtMs       int64   `json:"at_ms"`
			HashrateHs float64 `json:"hashrate_hs"`
		}
	}
	waitFor(t, "bos.a's shares in its 1 h history", func() bool {
		if s.call("GET", "/api/v1/workers/bos.a/hashrate?window=1h", "", &h) != http.StatusOK {
			return false
		}
		for _, p := range h.Points {
			if p.HashrateHs > 0 {
				return true
			}
		}
		return false
	})
	if h.StepS != 60 || len(h.Points) < 60 || len(h.Points) > 61 {
		t.Fatalf("1 h history: step %d, %d points", h.StepS, len(h.Points))
	}
	for window, step := range map[string]int64{"24h": 900, "7d": 3600} {
		if code := s.call("GET", "/api/v1/workers/bos.a/hashrate?window="+window, "", &h); code != http.StatusOK || h.StepS != step || h.Points[len(h.Points)-1].HashrateHs == 0 {
			t.Fatalf("%s history: %d, step %d", window, code, h.StepS)
		}
	}

	// Bulk locate: the Braiins miner's LED goes on; the Bitaxe has none; an unknown name fails alone.
	var res bulkAnswer
	if code := s.call("POST", "/api/v1/workers/bulk", `{"action":"locate_on","workers":["bos.a","axe.a","nosuch"]}`, &res); code != http.StatusOK ||
		res.Done != 1 || res.Failed != 2 || !res.Results[0].OK || res.Results[1].Error != "not supported by this firmware" || res.Results[2].Error != "not found" {
		t.Fatalf("bulk locate: %d %+v", code, res)
	}
	if !s.sims["bos.a"].State().Locate {
		t.Fatal("bos.a's LED is off after a confirmed locate")
	}
	// Bulk reboot, audited with the actor.
	if code := s.call("POST", "/api/v1/workers/bulk", `{"action":"reboot","workers":["bos.b"]}`, &res); code != http.StatusOK || res.Done != 1 {
		t.Fatalf("bulk reboot: %d %+v", code, res)
	}
	if n := s.sims["bos.b"].State().Reboots; n != 1 {
		t.Fatalf("bos.b rebooted %d times", n)
	}
	var ev struct {
		Source string
		Events []struct {
			Subject string `json:"subject"`
			Actor   string `json:"actor"`
		}
	}
	if code := s.call("GET", "/api/v1/events?kind="+power.KindReboot, "", &ev); code != http.StatusOK || ev.Source != "store" ||
		len(ev.Events) != 1 || ev.Events[0].Subject != "bos.b" || ev.Events[0].Actor != "token:e2e" {
		t.Fatalf("reboot audit: %d %+v", code, ev)
	}
	// Power profile within the miner's constraints; the detail shows it.
	if code := s.call("POST", "/api/v1/workers/bulk", `{"action":"power_profile","workers":["bos.a","axe.a"],"watts":2500}`, &res); code != http.StatusOK ||
		res.Done != 1 || res.Results[1].Error != "not supported by this firmware" {
		t.Fatalf("bulk power profile: %d %+v", code, res)
	}
	if tw := s.sims["bos.a"].State().TargetW; tw != 2500 {
		t.Fatalf("bos.a target %v W after a 2500 W profile", tw)
	}
	if s.call("GET", "/api/v1/workers/bos.a", "", &d); d.Hardware == nil || d.Hardware.ProfileW != 2500 {
		t.Fatalf("detail after the profile: %+v", d.Hardware)
	}
	if code := s.call("POST", "/api/v1/workers/bulk", `{"action":"power_profile","workers":["bos.b"],"watts":9000}`, &res); code != http.StatusOK ||
		res.Failed != 1 || !strings.HasPrefix(res.Results[0].Error, "out of range: 9000 W") {
		t.Fatalf("9 kW profile: %d %+v", code, res)
	}

	// Bad requests are refused before any firmware is asked; a viewer may not reboot.
	for _, body := range []string{
		`{"action":"power_profile","workers":["bos.a"]}`,
		`{"action":"power_profile","workers":["bos.a"],"watts":-1}`,
		`{"action":"power_profile","workers":["bos.a"],"watts":1000000000}`,
		`{"action":"reboot","workers":["bos.a"],"watts":100}`,
		`{"action":"reboot_all","workers":["bos.a"]}`,
		`{"action":"reboot","workers":[]}`,
		`{"action":"reboot","workers":["bos.a","bos.a"]}`,
		`{"action":"locate_on","workers":["` + strings.Repeat("x", 300) + `"]}`,
		`{"action":"reboot","workers":"bos.a"}`,
	} {
		if code := s.call("POST", "/api/v1/workers/bulk", body, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, code)
		}
	}
	for _, q := range []string{"window=2h", "window=1H", "window=%00"} {
		if code := s.call("GET", "/api/v1/workers/bos.a/hashrate?"+q, "", nil); code != http.StatusBadRequest {
			t.Errorf("history ?%s: %d, want 400", q, code)
		}
	}
	if code := s.call("GET", "/api/v1/workers/"+strings.Repeat("y", 300)+"/hashrate", "", nil); code != http.StatusBadRequest {
		t.Errorf("history of a 300-byte name: %d", code)
	}
	viewer := &policyApp{t: t, a: s.a, token: s.viewerToken}
	if code := viewer.call("POST", "/api/v1/workers/bulk", `{"action":"reboot","workers":["bos.a"]}`, nil); code != http.StatusForbidden {
		t.Fatalf("viewer reboot: %d, want 403", code)
	}
	if n := s.sims["bos.a"].State().Reboots; n != 0 {
		t.Fatalf("bos.a rebooted %d times", n)
	}
}

// TestBrowserMinerDetailAndBulkActions opens a miner's detail in headless Chromium, on a
// desktop and a 390 px phone: hardware data from its firmware and the hashrate history chart;
// then selects two miners and runs a bulk locate, a power profile and a bulk reboot (a second
// click confirms) from the miners page.
func TestBrowserMinerDetailAndBulkActions(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			s := startFirmwareSite(t)
			b := browsertest.New(t, "http://"+s.a.ConsoleAddr.String(), "../../testdata/artifacts/miner-detail-"+size.name)
			b.SignIn("alice", firmwareSitePassword)
			b.Do("viewport", chromedp.EmulateViewport(size.w, size.h))
			const row = `#miners-body tr:has(input[aria-label="select bos.a"])`
			b.Page("miners", `document.querySelectorAll('#miners-body tr.clickable').length === 3 && document.querySelector('`+row+`') !== null`)
			if size.w == 390 {
				b.WaitFor("no sideways scrolling at 390 px", `document.body.scrollWidth <= 390`)
			}
			field := func(k string) string {
				return `document.querySelector('#d-hw dd[data-field="` + k + `"]')?.textContent`
			}
			// The poller's reading may not be there yet when the drawer first opens: reopen
			// until it is.
			b.WaitFor("bos.a's hardware in the drawer", `(() => {
				if (`+field("Chip temperature")+` === '80.0 °C') return true;
				document.querySelector('`+row+` td:nth-child(3)').click();
				return false;
			})()`)
			b.WaitFor("fans, boards and efficiency", field("Fans")+` === '6000 rpm · 6000 rpm · 6000 rpm · 6000 rpm' && `+
				field("Hashboards")+` === '3 of 3 working' && `+field("Efficiency")+` === '17.5 J/TH' && `+field("Firmware")+` === 'braiins'`)
			b.WaitFor("the hashrate history", `Number(document.getElementById('d-hist').dataset.nonzero) > 0 && document.getElementById('d-hist').dataset.points >= 60`)
			if size.w == 390 {
				b.WaitFor("the drawer fits the phone", `document.getElementById('detail').getBoundingClientRect().right <= 390`)
			}
			b.Shot("detail")
			b.Click("the 24 h window", `#d-hist-tabs button[data-window="24h"]`)
			b.WaitFor("the 24 h history", `document.getElementById('d-hist-note').textContent.includes('15 min')`)
			b.Click("close", "#d-close")

			for _, n := range []string{"bos.a", "bos.b"} {
				b.Click("select "+n, `#miners-body input.sel[aria-label="select `+n+`"]`)
			}
			b.WaitFor("two selected", `document.getElementById('m-selected').textContent === '2 selected' && !document.getElementById('m-locate-on').disabled`)
			b.Click("locate on", "#m-locate-on")
			b.WaitFor("locate done", `document.getElementById('m-fw-result').textContent === 'Locate LED on for 2 workers'`)
			for _, n := range []string{"bos.a", "bos.b"} {
				if !s.sims[n].State().Locate {
					t.Fatalf("%s LED off after the bulk locate", n)
				}
			}
			b.Do("type a power profile", chromedp.SendKeys(chromedp.CSS("#m-profile-w"), "2500"))
			b.Click("set the power profile", "#m-profile")
			b.WaitFor("profile done", `document.getElementById('m-fw-result').textContent === 'Power profile 2500 W for 2 workers'`)
			for _, n := range []string{"bos.a", "bos.b"} {
				if tw := s.sims[n].State().TargetW; tw != 2500 {
					t.Fatalf("%s target %v W after a 2500 W profile", n, tw)
				}
			}
			b.Click("reboot", "#m-reboot")
			b.WaitFor("reboot asks for a second click", `document.getElementById('m-reboot').textContent === 'Confirm: reboot selected'`)
			if s.sims["bos.a"].State().Reboots != 0 {
				t.Fatal("rebooted on the first click")
			}
			b.Click("confirm reboot", "#m-reboot")
			b.WaitFor("reboot done", `document.getElementById('m-fw-result').textContent === 'Rebooted 2 workers'`)
			for _, n := range []string{"bos.a", "bos.b"} {
				if r := s.sims[n].State().Reboots; r != 1 {
					t.Fatalf("%s rebooted %d times", n, r)
				}
			}
			if size.w == 390 {
				b.WaitFor("no sideways scrolling after the actions", `document.body.scrollWidth <= 390`)
			}
			b.Shot("bulk")
		})
	}
}
