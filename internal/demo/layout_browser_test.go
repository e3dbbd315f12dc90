package demo

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hashgate/hashgate/internal/browsertest"
)

// layoutChecks is a page script that returns what is wrong with the console as shown (""
// when nothing): difficulties in exponent form, dates that are neither ISO 8601 nor relative
// (with the ISO value on hover), kind names or values cut off, and on a phone a page that
// scrolls sideways, a page link off screen or covered, or a wide table that does not scroll
// inside its card. Each check also needs something to look at, so an empty page fails.
const layoutChecks = `((page, phone) => {
  const out = [];
  const shown = e => e.getClientRects().length > 0;
  const all = sel => [...document.querySelectorAll(sel)].filter(shown);
  const ISO = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  const REL = /^\d+ (s|min|h|d) ago$/;
  const TIME = /^\d{2}:\d{2}:\d{2}$/;
  const need = (what, list, min) => { if (list.length < min) out.push(what + ': ' + list.length + ' shown, want ' + min + ' or more'); return list; };
  const plain = (what, cells) => { for (const c of cells) { const t = c.textContent; if (/\de[-+]?\d/i.test(t) || !/^\d+(\.\d+)?[KMGTPE]?$/.test(t)) out.push(what + ' ' + JSON.stringify(t)); } };
  const relative = (what, cells) => { for (const c of cells) { const t = c.textContent; if (t === '–') continue; if (!REL.test(t) || !ISO.test(c.title)) out.push(what + ' ' + JSON.stringify(t) + ' title ' + JSON.stringify(c.title)); } };
  const uncut = (what, els) => { for (const e of els) if (e.scrollWidth > e.clientWidth + 1) out.push(what + ' cut: ' + JSON.stringify(e.textContent.slice(0, 60)) + ' ' + e.scrollWidth + '>' + e.clientWidth); };
  for (const t of all('.events time')) if (!TIME.test(t.textContent) || !ISO.test(t.title)) out.push('event time ' + JSON.stringify(t.textContent) + ' title ' + JSON.stringify(t.title));
  uncut('kind', all('.events .kind'));
  for (const k of all('.events .kind')) if (getComputedStyle(k).textOverflow === 'ellipsis') out.push('kind ' + k.textContent + ' may be cut with an ellipsis');
  uncut('card', all('.card:not(.table-card), .kpi, .kpi-value, .kpi-sub'));
  switch (page) {
  case 'overview':
    need('overview events', all('#overview-events time'), 1);
    break;
  case 'miners':
    plain('miner difficulty', need('miner rows', all('#miners-body tr.clickable td:nth-child(5)'), 6));
    relative('last seen', all('#miners-body tr.clickable td:nth-child(12)'));
    break;
  case 'pools':
    plain('pool difficulty', need('pool rows', all('#pools-body tr td:nth-child(6)').filter(c => c.textContent !== '0'), 1));
    relative('last job', all('#pools-body tr td:last-child'));
    break;
  case 'policy':
    need('groups', all('#groups-body tr[data-group]'), 1);
    relative('meter age', need('meters', all('#meters-body tr td:nth-child(4)'), 1));
    break;
  case 'events':
    for (const c of need('events', all('#events-body tr td:first-child'), 1)) if (!ISO.test(c.textContent)) out.push('event date ' + JSON.stringify(c.textContent));
    break;
  }
  if (phone) {
    if (innerWidth !== 390) out.push('viewport ' + innerWidth + ' wide, want 390');
    const sw = document.documentElement.scrollWidth;
    if (sw > innerWidth) out.push('the page scrolls sideways: ' + sw + ' > ' + innerWidth);
    for (const a of need('nav links', all('#nav a'), 5)) {
      const r = a.getBoundingClientRect();
      if (r.width < 20 || r.left < 0 || r.right > innerWidth || r.top < 0 || r.bottom > innerHeight) { out.push('nav ' + a.textContent + ' off screen ' + JSON.stringify(r)); continue; }
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      if (!hit || hit.closest('a') !== a) out.push('nav ' + a.textContent + ' covered by ' + (hit ? hit.outerHTML.slice(0, 80) : 'nothing'));
    }
    for (const t of all('.table-card table')) {
      const card = t.closest('.table-card');
      if (t.scrollWidth > card.clientWidth + 1 && !['auto', 'scroll'].includes(getComputedStyle(card).overflowX)) out.push('a wide table does not scroll in its card');
      const r = card.getBoundingClientRect();
      if (r.right > innerWidth + 1) out.push('a table card ends at ' + r.right);
    }
  }
  return out.join('; ');
})`

// check runs layoutChecks on the page shown and fails the test with what it found.
func check(t *testing.T, b *browsertest.Browser, page string, phone bool) {
	t.Helper()
	var problems string
	b.Do("check "+page, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Evaluate[string](fmt.Sprintf("%s(%q, %v)", layoutChecks, page, phone))(ctx, tg)
		problems = v
		return chromedp.Void{}, err
	})
	if problems != "" {
		t.Errorf("%s (phone %v): %s", page, phone, problems)
	}
}

// ready is when each page has what the checks look at.
var ready = map[string]string{
	"overview": `document.querySelectorAll('#overview-events time').length > 0`,
	"miners":   `document.querySelectorAll('#miners-body tr.clickable').length === 6`,
	"pools":    `[...document.querySelectorAll('#pools-body tr td:nth-child(6)')].some(c => c.textContent !== '0')`,
	"policy":   `document.querySelectorAll('#groups-body tr[data-group]').length > 0 && document.querySelectorAll('#meters-body tr td:nth-child(4)').length > 0`,
	"events":   `document.querySelectorAll('#events-body tr td.mono').length > 0`,
}

var pages = []string{"overview", "miners", "pools", "policy", "events"}

// TestConsoleLayoutAgainstDemo opens every page of the real demo's console in headless
// Chromium at 1440×900 and at a phone's 390×844. On both: difficulties in plain or SI form,
// dates in ISO 8601 or relative with the ISO value on hover, kind names and values whole. On
// the phone: no sideways scrolling of the page, every page link on screen and reached by a
// real click, tables scrolling inside their cards, the worker drawer inside the screen.
// Screenshots go to testdata/artifacts/layout.
func TestConsoleLayoutAgainstDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	d, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", Console: "127.0.0.1:0", Miners: 6, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := browsertest.New(t, "http://"+d.App.ConsoleAddr.String(), "../../testdata/artifacts/layout")
	b.SignIn(User, Password)

	for _, p := range pages {
		b.Page(p, ready[p])
		check(t, b, p, false)
		b.Shot("desktop-" + p)
	}

	b.Do("phone viewport", chromedp.EmulateViewport(390, 844))
	b.Page("overview", ready["overview"]+` && innerWidth === 390`)
	for _, p := range pages {
		// A real mouse click at the link's place on screen, as a thumb would.
		b.Do("tap "+p, chromedp.Click(chromedp.CSS(`#nav a[data-page="`+p+`"]`)))
		b.WaitFor(p+" page", `!document.getElementById('page-`+p+`').classList.contains('hidden') && `+ready[p])
		check(t, b, p, true)
		b.Shot("phone-" + p)
	}

	b.Do("tap miners", chromedp.Click(chromedp.CSS(`#nav a[data-page="miners"]`)))
	b.WaitFor("miners page", ready["miners"])
	// Re-opening the page asks the server for its rows again, so the table may be between
	// answers for a moment: click a row once one is there.
	b.WaitFor("open a worker", `(() => { const e = document.querySelector('#miners-body tr.clickable'); if (!e) return false; e.click(); return true })()`)
	b.WaitFor("the worker drawer inside the screen", `(() => {
	  const r = document.getElementById('detail').getBoundingClientRect();
	  return !document.getElementById('detail').classList.contains('hidden') && r.left >= 0 && r.right <= innerWidth && r.width > 300;
	})()`)
	b.WaitFor("the drawer's difficulty and connection time", `(() => {
	  const dd = k => [...document.querySelectorAll('#d-fields dt')].find(dt => dt.textContent === k)?.nextElementSibling?.textContent || '';
	  return /^\d+(\.\d+)?[KMGTPE]?$/.test(dd('Difficulty')) && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/.test(dd('Connected'));
	})()`)
	b.Shot("phone-worker")
	b.Do("close the drawer", chromedp.Click(chromedp.CSS("#d-close")))
	b.WaitFor("the drawer closed", `document.getElementById('detail').classList.contains('hidden')`)
}
