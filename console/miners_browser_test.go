package console

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hashgate/hashgate/internal/browsertest"
)

// TestBrowserMinersPaging drives the miners page in headless Chromium, on a desktop and a
// 390 px phone screen, over 450 workers: the server sends one page of 200 rows, Next and Prev
// move through the pages, a click on a column sorts the whole table (not the page), the
// filter box and the state filter narrow it with the count of matches.
func TestBrowserMinersPaging(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			cfg := authConfig()
			cfg.UpdateInterval = Duration(500 * time.Millisecond)
			s := newServer(t, cfg, newFleetBackend(450, true)) // rack1: even indexes, rack2: odd; accepted = 100 + index
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			b := browsertest.New(t, ts.URL, artifacts+"/miners-"+size.name)
			b.SignIn("alice", adminPassword)
			b.Do("viewport", chromedp.EmulateViewport(size.w, size.h))

			const rows = `document.querySelectorAll('#miners-body tr.clickable')`
			first := func(name string) string {
				return rows + `[0]?.children[0].textContent === '` + name + `'`
			}
			count := func(text string) string {
				return `document.getElementById('m-count').textContent === '` + text + `'`
			}
			b.Page("miners", rows+`.length === 200 && `+first("rack1.m00000")+` && `+count("450 of 450 workers")+
				` && document.getElementById('m-page').textContent === 'page 1 / 3'`)
			if size.w == 390 {
				b.WaitFor("no sideways scrolling at 390 px", `document.body.scrollWidth <= 390`)
			}
			b.Shot("page1")

			b.Click("next page", "#m-next")
			b.WaitFor("page 2", rows+`.length === 200 && `+first("rack1.m00400")+` && document.getElementById('m-page').textContent === 'page 2 / 3'`)
			b.Click("next page", "#m-next")
			b.WaitFor("page 3", rows+`.length === 50 && `+first("rack2.m00351")+` && document.getElementById('m-next').disabled`)
			b.Shot("page3")
			b.Click("previous page", "#m-prev")
			b.WaitFor("back on page 2", first("rack1.m00400"))

			// Sorting orders the whole table and starts again at page 1.
			b.Click("sort by accepted", `#miners-table th[data-sort="accepted"]`)
			b.WaitFor("most accepted first", first("rack2.m00449")+` && document.getElementById('m-page').textContent === 'page 1 / 3'`)
			b.Click("sort by accepted again", `#miners-table th[data-sort="accepted"]`)
			b.WaitFor("least accepted first", first("rack1.m00000")+` && `+rows+`[1]?.children[0].textContent === 'rack2.m00001'`)
			b.Shot("sorted")

			b.Do("filter", chromedp.SendKeys(chromedp.CSS("#m-filter"), "M0001"))
			b.WaitFor("filtered", rows+`.length === 10 && `+count("10 of 450 workers")+` && `+first("rack1.m00010"))
			b.Shot("filtered")
			b.Do("state filter", chromedp.SetValue(chromedp.CSS("#m-state"), "paused"), dispatchInput("#m-state"))
			b.WaitFor("nothing paused", count("0 of 450 workers")+` && document.querySelector('#miners-body td.empty')?.textContent === 'No worker matches the filter.'`)
		})
	}
}

// dispatchInput fires an input event on sel, as a person choosing an option does.
func dispatchInput(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var v chromedp.Void
		_, err := chromedp.Evaluate[bool](`document.querySelector(`+strconv.Quote(sel)+`).dispatchEvent(new Event('input'))`)(ctx, tg)
		return v, err
	}
}

// TestBrowserMinersOffline: the state filter's "offline" lists the remembered disconnected
// workers with their state, and a click opens one's page with since when it is offline.
func TestBrowserMinersOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	went := time.Now().Add(-90 * time.Minute)
	b := &offlineBackend{fleetBackend: newFleetBackend(5, true), off: []OfflineWorker{
		{Worker: "rack1.gone", Group: "rack1", Since: went, LastSeen: went},
		{Worker: "rack2.gone", Group: "rack2", Since: went.Add(time.Minute), LastSeen: went},
	}}
	cfg := authConfig()
	cfg.UpdateInterval = Duration(500 * time.Millisecond)
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	br := browsertest.New(t, ts.URL, artifacts+"/miners-offline")
	br.SignIn("alice", adminPassword)
	const rows = `document.querySelectorAll('#miners-body tr.clickable')`
	br.Page("miners", rows+`.length === 7 && document.getElementById('m-count').textContent === '7 of 7 workers'`)
	br.Do("offline filter", chromedp.SetValue(chromedp.CSS("#m-state"), "offline"), dispatchInput("#m-state"))
	br.WaitFor("two offline rows", rows+`.length === 2 && [...`+rows+`].every(r => r.children[1].textContent.startsWith('offline')) && `+
		rows+`[0].children[0].textContent === 'rack1.gone' && `+rows+`[0].lastChild.textContent === '2 h ago'`)
	br.Shot("offline")
	br.Click("open the offline worker", "#miners-body tr.clickable")
	br.WaitFor("its page", `document.getElementById('d-title').textContent === 'rack1.gone' && `+
		`[...document.querySelectorAll('#d-fields dt')].some(d => d.textContent === 'Offline since')`)
	br.Shot("offline-detail")
}

// TestBrowserMinersBulk drives bulk actions on a real small site (simulated pool and miners
// through the real proxy and power controller), on a desktop and a 390 px screen: three rows
// selected by their checkboxes are paused together and show paused, held by the operator,
// the others not; resumed together, the operator's hold is gone. Select page selects every
// row of the page.
func TestBrowserMinersBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			site := startSite(t)
			cfg := authConfig()
			cfg.UpdateInterval = Duration(500 * time.Millisecond)
			s := newServer(t, cfg, site)
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			b := browsertest.New(t, ts.URL, artifacts+"/miners-bulk-"+size.name)
			b.SignIn("alice", adminPassword)
			b.Do("viewport", chromedp.EmulateViewport(size.w, size.h))
			const rows = `[...document.querySelectorAll('#miners-body tr.clickable')]`
			b.Page("miners", rows+`.length === 8`)
			var names []string
			for _, w := range site.px.Workers() {
				names = append(names, w.Worker)
			}
			slices.Sort(names)
			picked := names[:3] // the first three rows, sorted by name
			for _, n := range picked {
				b.Click("select "+n, `#miners-body input.sel[aria-label="select `+n+`"]`)
			}
			b.WaitFor("three selected", `document.getElementById('m-selected').textContent === '3 selected' && document.getElementById('detail').classList.contains('hidden')`)
			b.Click("pause selected", "#m-pause")
			quoted, _ := json.Marshal(picked)
			held := `(r => r.children[1].textContent.includes('operator'))`
			state := `(r => r.children[1].querySelector('.badge').textContent)`
			b.WaitFor("the three paused, the others not", rows+`.every(r => `+string(quoted)+`.includes(r.children[0].textContent) === `+held+`(r)) && `+
				rows+`.filter(`+held+`).every(r => `+state+`(r) === 'paused')`)
			b.Shot("paused")
			for _, w := range site.px.Workers() {
				if slices.Contains(picked, w.Worker) && w.State != "paused" {
					t.Fatalf("the proxy runs %s (%s) after the bulk pause", w.Worker, w.State)
				}
			}
			b.Click("resume selected", "#m-resume")
			b.WaitFor("no operator hold left", `!`+rows+`.some(`+held+`)`)
			b.Click("select the page", "#m-all")
			b.WaitFor("the page selected", `document.getElementById('m-selected').textContent === '8 selected' && `+
				`[...document.querySelectorAll('#miners-body input.sel')].every(c => c.checked)`)
			b.Click("clear", "#m-clear")
			b.WaitFor("none selected", `document.getElementById('m-selected').textContent === '0 selected' && !document.getElementById('m-all').checked`)
			b.Shot("resumed")
		})
	}
}
