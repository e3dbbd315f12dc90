package console

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifacts is where the browser test leaves its screenshots (gitignored).
const artifacts = "../testdata/artifacts/console"

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HASHGATE_REQUIRE_PEERS") == "1" {
		t.Fatal("chromium is required (HASHGATE_REQUIRE_PEERS=1) but not installed: apt-get install chromium")
	}
	t.Skip("chromium not installed")
	return ""
}

// TestBrowserConsole drives the console in headless Chromium against a real small site
// (simulated pool and miners through the real proxy, the real policy runner and store):
// refused while signed out, sign in, watch live numbers change, pause and resume a fleet
// group and see the miners' state follow, and leave a screenshot of every page.
func TestBrowserConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	chrome := findChromium(t)
	site := startSite(t)
	cfg := authConfig()
	cfg.UpdateInterval = Duration(500 * time.Millisecond)
	s := newServer(t, cfg, site)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// Only a guard against a hang; every wait below is for a condition.
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	defer cancelTimeout()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitFor := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(200*time.Millisecond),
			chromedp.WithPollingTimeout(90*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	status := func(path string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch(`+strconv.Quote(path)+`).then(r => r.status)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// click clicks inside the page in one step: tables are re-rendered with every update, so
	// a node looked up first may be gone by the time a separate click arrives.
	click := func(what, sel string) {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); if (!e) return false; e.click(); return true })()`))
		if err != nil || !ok {
			t.Fatalf("%s: no %s (%v)", what, sel, err)
		}
	}
	page := func(name, ready string) {
		t.Helper()
		do("open "+name, chromedp.Navigate(ts.URL+"/#"+name))
		waitFor(name+" page", ready)
	}

	// Signed out: the login form, and the API refuses.
	do("load", chromedp.EmulateViewport(1440, 900), chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if code := status("/api/v1/overview"); code != 401 {
		t.Fatalf("signed-out API request: %d, want 401", code)
	}
	shot("login")

	do("sign in", chromedp.SendKeys(chromedp.CSS("#login-name"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), adminPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#app")))
	waitFor("live stream", `document.getElementById('live-text').textContent === 'live'`)

	// Live numbers change without a reload.
	waitFor("shares", `document.getElementById('v-accepted').textContent !== '–'`)
	first := text("#v-accepted")
	waitFor("accepted shares to move", `document.getElementById('v-accepted').textContent !== `+strconv.Quote(first))
	waitFor("chart history", `+document.getElementById('chart-power').dataset.points >= 24`)
	shot("overview")

	page("miners", `document.querySelectorAll('#miners-body tr.clickable').length === 8`)
	shot("miners")
	click("open detail", "#miners-body tr.clickable")
	do("detail", chromedp.WaitVisible(chromedp.CSS("#detail")))
	waitFor("detail decisions", `document.querySelectorAll('#d-decisions li').length > 0`)
	shot("miner-detail")

	page("pools", `document.querySelectorAll('#pools-body tr').length === 1 && document.querySelector('#pools-body .badge').textContent === 'up'`)
	shot("pools")

	// Pause a group from the policy page; the proxy gates its miners and the UI follows.
	const rack2 = `document.querySelector('tr[data-group="rack2"]')`
	page("policy", rack2+` !== null`)
	waitFor("rack2 running before the pause", rack2+`.children[5].textContent !== '0'`)
	click("pause rack2", `tr[data-group="rack2"] button[data-action="pause"]`)
	waitFor("rack2 paused by operator", rack2+`.children[10].textContent === 'paused'`)
	waitFor("rack2 miners paused", rack2+`.children[5].textContent === '0' && `+rack2+`.children[6].textContent === '4'`)
	for _, w := range site.px.Workers() {
		if strings.HasPrefix(w.Worker, "rack2.") && w.State != "paused" {
			t.Fatalf("proxy still runs %s (%s) after the group pause", w.Worker, w.State)
		}
	}
	if snap := site.runner.Snapshot(); !slices.Contains(snap.Manual.PausedGroups, "rack2") {
		t.Fatalf("runner paused groups %v", snap.Manual.PausedGroups)
	}
	shot("policy")

	page("miners", `[...document.querySelectorAll('#miners-body tr')].filter(r => r.children.length > 2 && r.children[2].textContent === 'rack2' && r.children[1].textContent === 'paused').length === 4`)

	page("policy", rack2+` !== null`)
	click("resume rack2", `tr[data-group="rack2"] button[data-action="resume"]`)
	waitFor("rack2 back under the policy", rack2+`.children[10].textContent === 'auto'`)
	waitFor("a rack2 miner running again", rack2+`.children[5].textContent !== '0'`)

	page("events", `[...document.querySelectorAll('#events-body tr')].some(r => r.children.length > 4 && r.children[4].textContent === 'user:alice')`)
	shot("events")

	// Signing out ends API access.
	do("sign out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if code := status("/api/v1/workers"); code != 401 {
		t.Fatalf("API after sign-out: %d, want 401", code)
	}
}
