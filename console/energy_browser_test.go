package console

import (
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hashgate/hashgate/internal/browsertest"
)

// TestBrowserEnergyPage drives the Energy page in headless Chromium on a desktop and a 390 px
// screen over a real store: the daily table per group shows the shed group's 0.175 kWh, three
// curtailed minutes and one event and nothing shed for the other, the site table the day, the
// chart its series; the group filter narrows the table and the chart; the decisions download
// link returns the CSV with the hostile worker name neutralised.
func TestBrowserEnergyPage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			st := openEnergyStore(t)
			seedEnergy(t, st)
			s := newServer(t, authConfig(), energyBackend{fleetBackend: newFleetBackend(2, true), st: st, unit: "EUR/MWh"})
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			b := browsertest.New(t, ts.URL, artifacts+"/energy-"+size.name)
			b.SignIn("alice", adminPassword)
			b.Do("viewport", chromedp.EmulateViewport(size.w, size.h))
			b.Page("energy", `document.getElementById('en-to').value !== ''`)
			b.WaitFor("the range set", `(() => { const f = document.getElementById('en-from'), t = document.getElementById('en-to');
				f.value = '2026-06-01'; t.value = '2026-06-01'; t.dispatchEvent(new Event('change')); return true })()`)

			const groups = `[...document.querySelectorAll('#energy-groups tr')]`
			cell := func(r, c int) string {
				return groups + `[` + itoa(r) + `]?.children[` + itoa(c) + `]?.textContent`
			}
			b.WaitFor("the daily rows per group", groups+`.length === 2 && `+cell(0, 1)+` === '-low' && `+cell(1, 1)+` === 'high'`)
			b.WaitFor("the shed group's figures", cell(0, 4)+` === '0.175' && `+cell(0, 5)+` === '3' && `+cell(0, 6)+` === '1' && `+cell(0, 2)+` === '0.000'`)
			b.WaitFor("the running group's figures", cell(1, 4)+` === '0.000' && `+cell(1, 5)+` === '0' && `+cell(1, 2)+` === '0.175' && `+cell(1, 3)+` === '100%' && `+cell(1, 7)+` === '0.02'`)
			b.WaitFor("the site row", `document.querySelector('#energy-site tr')?.children[0].textContent === '2026-06-01' && document.querySelector('#energy-site tr').children[6].textContent === '1,024' && document.querySelector('#energy-site tr').children[7].textContent === '0.00002469'`)
			b.WaitFor("the chart legend", `document.getElementById('legend-energy').textContent.includes('groups shed kW')`)
			b.WaitFor("the price unit", `document.getElementById('en-price').textContent.includes('EUR/MWh')`)
			if size.w == 390 {
				b.WaitFor("no sideways scrolling at 390 px", `document.body.scrollWidth <= 390`)
			}
			b.Shot("report")

			b.WaitFor("the download link's CSV", `(() => {
				if (!window.__csv) window.__csv = fetch(document.getElementById('en-dl-decisions').href)
					.then(r => r.text().then(t => window.__csvText = r.headers.get('content-disposition') + '\n' + t));
				return !!window.__csvText && window.__csvText.startsWith('attachment; filename="hashgate-decisions-2026-06-01-2026-06-01.csv"\nid,time,miner,action')
					&& window.__csvText.includes(",'=cmd|' /C calc'!A0,");
			})()`)

			b.WaitFor("the group filter", `(() => { const g = document.getElementById('en-group');
				if (g.value !== 'high') { g.value = 'high'; g.dispatchEvent(new Event('change')); }
				return `+groups+`.length === 1 && `+cell(0, 1)+` === 'high' &&
					document.getElementById('legend-energy').textContent.includes('high shed kW') })()`)
			b.Shot("group")
			b.WaitFor("the help text", `(() => { document.getElementById('en-help').open = true; return document.getElementById('en-help').textContent.includes('rated power minus what') })()`)
			b.Shot("help")
		})
	}
}

func itoa(i int) string {
	return string(rune('0' + i))
}
