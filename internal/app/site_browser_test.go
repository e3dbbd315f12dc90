package app

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hashgate/hashgate/internal/browsertest"
)

// TestBrowserSitePage drives hall-a's console in headless Chromium, signed in with a
// password (cookie session, CSRF token), while hall-b shares the site over hall-a's embedded
// NATS server: the Site link appears, the page lists both instances (hall-b linked to its
// console) and the three miners of both; a miner of hall-b selected and paused from the page
// is paused at hall-b; at 390 px the page does not scroll sideways and a resume from the page
// reaches hall-b too. Screenshots go to testdata/artifacts/site.
func TestBrowserSitePage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	_, paddr := startTestPool(t)
	embed, reach := siteNATS(t)
	a := startSiteApp(t, paddr, "hall-a", "", embed)
	b := startSiteApp(t, paddr, "hall-b", "https://hall-b.example:8080", reach)
	runMiner(t, a, "rack1.a0")
	runMiner(t, b, "rack1.b0")
	runMiner(t, b, "rack1.b1")
	waitFor(t, "hall-a's console sees three miners on two instances", func() bool {
		s := siteOf(t, a)
		return len(s.Instances) == 2 && sitePage(t, a, "").Total == 3
	})

	br := browsertest.New(t, "http://"+a.ConsoleAddr.String(), "../../testdata/artifacts/site")
	br.SignIn("olga", "site page password")
	br.WaitFor("the Site link", `document.querySelector('#nav a[data-page="site"]')?.textContent === 'Site'`)
	const rows = `document.querySelectorAll('#site-miners tr[data-worker]').length`
	br.Page("site", `document.querySelectorAll('#site-instances tr[data-instance]').length === 2 && `+rows+` === 3`)
	br.WaitFor("hall-b linked to its console, hall-a marked as this console",
		`document.querySelector('#site-instances tr[data-instance="hall-b"] a')?.href === 'https://hall-b.example:8080/' &&
		 document.querySelector('#site-instances tr[data-instance="hall-a"]').textContent.includes('this console') &&
		 document.getElementById('site-instances').textContent.includes('leader')`)
	br.Shot("desktop")

	br.Click("select rack1.b0", `#site-miners tr[data-worker="rack1.b0"] input[type=checkbox]`)
	br.Click("pause selected", `#site-pause`)
	br.WaitFor("the pause's outcome", `document.getElementById('site-status').textContent.includes('pause: 1 done')`)
	waitFor(t, "rack1.b0 paused at hall-b", func() bool { return workerState(b, "rack1.b0") == "paused" })
	if workerState(a, "rack1.a0") != "running" || workerState(b, "rack1.b1") != "running" {
		t.Fatalf("other miners: a0 %s, b1 %s", workerState(a, "rack1.a0"), workerState(b, "rack1.b1"))
	}
	br.WaitFor("the row says paused by operator", `document.querySelector('#site-miners tr[data-worker="rack1.b0"]').textContent.includes('paused by operator')`)
	br.Shot("desktop-paused")

	br.Do("phone viewport", chromedp.EmulateViewport(390, 844))
	br.WaitFor("390 px", `innerWidth === 390`)
	br.WaitFor("no sideways scroll", `document.documentElement.scrollWidth <= innerWidth`)
	br.Click("select rack1.b0", `#site-miners tr[data-worker="rack1.b0"] input[type=checkbox]`)
	br.Click("resume selected", `#site-resume`)
	br.WaitFor("the resume's outcome", `document.getElementById('site-status').textContent.includes('resume: 1 done')`)
	waitFor(t, "rack1.b0 running at hall-b", func() bool { return workerState(b, "rack1.b0") == "running" })
	br.Shot("phone")
}
