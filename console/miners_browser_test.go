package console

import (
	"context"
	"net/http/httptest"
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
