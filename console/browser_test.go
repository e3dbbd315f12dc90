package console

import (
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hashgate/hashgate/internal/browsertest"
)

// artifacts is where the browser test leaves its screenshots (gitignored).
const artifacts = "../testdata/artifacts/console"

// TestBrowserConsole drives the console in headless Chromium against a real small site
// (simulated pool and miners through the real proxy, the real policy runner and store):
// refused while signed out, sign in, watch live numbers change, pause and resume a fleet
// group and see the miners' state follow, and leave a screenshot of every page.
func TestBrowserConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	site := startSite(t)
	cfg := authConfig()
	cfg.UpdateInterval = Duration(500 * time.Millisecond)
	s := newServer(t, cfg, site)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	b := browsertest.New(t, ts.URL, artifacts)
	waitFor, text, shot, click, page := b.WaitFor, b.Text, b.Shot, b.Click, b.Page
	do := b.Do

	b.SignIn("alice", adminPassword)

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

	// Each rack2 row says paused and why: the policy holds its gate (the group pause).
	page("miners", `[...document.querySelectorAll('#miners-body tr')].filter(r => r.children.length > 2 && r.children[2].textContent === 'rack2' && r.children[1].querySelector('.badge').textContent === 'paused' && r.children[1].querySelector('.badge.held')?.textContent === 'held: policy').length === 4`)
	shot("miners-held")

	page("policy", rack2+` !== null`)
	click("resume rack2", `tr[data-group="rack2"] button[data-action="resume"]`)
	waitFor("rack2 back under the policy", rack2+`.children[10].textContent === 'auto'`)
	waitFor("a rack2 miner running again", rack2+`.children[5].textContent !== '0'`)

	page("events", `[...document.querySelectorAll('#events-body tr')].some(r => r.children.length > 4 && r.children[4].textContent === 'user:alice')`)
	shot("events")

	// Signing out ends API access.
	b.SignOut()
}
