package app

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/browsertest"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestBrowserManagePools drives the pools page of the real hashgate (proxy, store, three
// simulated pools, a simulated miner) in headless Chromium, signed in with a password (a
// cookie session and its CSRF token): a pool added from the form connects; a bad url is
// refused with the server's reason on the page; the active pool's url edited from the page
// takes the miner's shares to the new pool; moving a pool down reorders the failover; a switch
// moves the miner at once and shows on both tables; at 390 px the page does not scroll
// sideways and the controls still work (release, remove). Screenshots go to
// testdata/artifacts/pools.
func TestBrowserManagePools(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	spA, addrA := startTestPool(t)
	spB, addrB := startTestPool(t)
	spC, addrC := startTestPool(t)
	f := poolsFile(t, addrA)
	hash, err := console.HashPassword("pools page password")
	if err != nil {
		t.Fatal(err)
	}
	f.Console.Users = []console.UserConfig{{Name: "olga", PasswordHash: hash, Role: console.RoleAdmin}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startPoolsApp(t, &f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "rack1.a", HashRate: 50000}).Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, "shares at pool A", func() bool { return spA.Accepted() >= 1 })

	b := browsertest.New(t, "http://"+a.ConsoleAddr.String(), "../../testdata/artifacts/pools")
	b.SignIn("olga", "pools page password")
	const rows = `[...document.querySelectorAll('#pool-admin-body tr[data-pool]')]`
	const order = rows + `.map(r => r.dataset.pool).join(',')`
	b.Page("pools", order+` === 'p'`)

	// Add b from the form.
	b.Do("fill the add form",
		chromedp.SendKeys(chromedp.CSS("#pool-name"), "b"),
		chromedp.SendKeys(chromedp.CSS("#pool-url"), "stratum+tcp://"+addrB),
		chromedp.SendKeys(chromedp.CSS("#pool-user"), "acct"),
		chromedp.SendKeys(chromedp.CSS("#pool-password"), "x"),
		chromedp.Click(chromedp.CSS("#pool-submit")))
	b.WaitFor("pool b in the rows, up", order+` === 'p,b' && document.querySelector('#pool-admin-body tr[data-pool="b"]').textContent.includes('up')`)
	if st, _ := poolRowOf(a, "b"); st.State != "up" || spB.Connections() != 1 {
		t.Fatalf("pool b after the form: %+v, %d connections", st, spB.Connections())
	}
	b.Shot("desktop-added")

	// A bad url: the server's reason on the page, nothing added.
	b.Do("add with a bad url",
		chromedp.SendKeys(chromedp.CSS("#pool-name"), "bad"),
		chromedp.SendKeys(chromedp.CSS("#pool-url"), "http://example.com:1"),
		chromedp.SendKeys(chromedp.CSS("#pool-user"), "acct"),
		chromedp.Click(chromedp.CSS("#pool-submit")))
	b.WaitFor("the validation error", `document.getElementById('pool-error').textContent.includes('pool.url: unsupported scheme "http"')`)
	b.Shot("desktop-error")
	if got := poolNames(a); got != "p,b" {
		t.Fatalf("pools after a refused add: %s", got)
	}

	// Edit p's url to C.
	b.WaitFor("the form cleared", `(document.getElementById('pool-form').reset(), document.getElementById('pool-name').value === '')`)
	b.Click("edit p", `#pool-admin-body button[data-act="edit"][data-pool="p"]`)
	b.WaitFor("the edit form with p's account", `document.getElementById('pool-name').readOnly && document.getElementById('pool-name').value === 'p' && document.getElementById('pool-user').value === 'acct' && document.getElementById('pool-password').value === ''`)
	b.WaitFor("the url field cleared", `(document.getElementById('pool-url').value = '') === ''`)
	b.Do("edit p's url", chromedp.SendKeys(chromedp.CSS("#pool-url"), "stratum+tcp://"+addrC),
		chromedp.Click(chromedp.CSS("#pool-submit")))
	b.WaitFor("the edit saved", `document.getElementById('pool-status').textContent === 'Saved p' && document.querySelector('#pool-admin-body tr[data-pool="p"]').textContent.includes('`+addrC+`')`)
	waitFor(t, "shares at C, p's new url", func() bool { return spC.Accepted() >= 1 })

	// Give p a weight from the form: the running proxy takes it, nothing is redialled.
	b.Click("edit p's weight", `#pool-admin-body button[data-act="edit"][data-pool="p"]`)
	b.WaitFor("the edit form with p's weight", `document.getElementById('pool-name').value === 'p' && document.getElementById('pool-weight').value === '0'`)
	b.WaitFor("the weight field and status cleared", `(document.getElementById('pool-weight').value = '', document.getElementById('pool-status').textContent = '') === ''`)
	b.Do("set p's weight", chromedp.SendKeys(chromedp.CSS("#pool-weight"), "2.5"),
		chromedp.Click(chromedp.CSS("#pool-submit")))
	b.WaitFor("the weight saved", `document.getElementById('pool-status').textContent === 'Saved p' && document.getElementById('pool-submit').textContent === 'Add pool'`)
	waitFor(t, "p's weight 2.5 in the proxy", func() bool { st, _ := poolRowOf(a, "p"); return st.Weight == 2.5 })
	if pcs := a.Proxy.PoolConfigs(); pcs[findPool(pcs, "p")].URL != "stratum+tcp://"+addrC || spC.Connections() != 1 {
		t.Fatalf("a weight edit from the form changed more: %+v, %d connections at C", pcs, spC.Connections())
	}

	// Move p down: b is first.
	b.Click("move p down", `#pool-admin-body button[data-act="down"][data-pool="p"]`)
	b.WaitFor("the new order", order+` === 'b,p'`)
	if got := poolNames(a); got != "b,p" {
		t.Fatalf("proxy order after the move: %s", got)
	}

	// Switch to p, second in priority.
	b.WaitFor("p up", `!document.querySelector('#pool-admin-body button[data-act="switch"][data-pool="p"]').disabled`)
	b.Click("switch to p", `#pool-admin-body button[data-act="switch"][data-pool="p"]`)
	b.WaitFor("p switched on both tables", `document.querySelector('#pool-admin-body button[data-act="release"][data-pool="p"]') !== null &&
		[...document.querySelectorAll('#pools-body tr')].some(r => r.textContent.includes('switched') && r.textContent.includes('p'))`)
	if a.Proxy.ForcedPool() != "p" || a.Proxy.Status().ActivePool != "p" {
		t.Fatalf("forced %q, active %q", a.Proxy.ForcedPool(), a.Proxy.Status().ActivePool)
	}
	b.Shot("desktop-switched")

	// The phone: no sideways scroll, every control on screen and working.
	b.Do("phone viewport", chromedp.EmulateViewport(390, 844))
	b.WaitFor("390 px", `innerWidth === 390`)
	b.WaitFor("no sideways scroll", `document.documentElement.scrollWidth <= innerWidth`)
	b.WaitFor("the form and every pool control inside the screen", `[...document.querySelectorAll('#pool-form input, #pool-form button:not([hidden]), #pool-admin-body button')].every(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= innerWidth; })`)
	b.Shot("phone-pools")
	// Real taps at the buttons' places on screen.
	b.Do("tap release p", chromedp.Click(chromedp.CSS(`#pool-admin-body button[data-act="release"][data-pool="p"]`)))
	b.WaitFor("released", `document.querySelector('#pool-admin-body button[data-act="switch"][data-pool="p"]') !== null`)
	if a.Proxy.ForcedPool() != "" {
		t.Fatal("still forced after release")
	}
	// Removal takes two clicks.
	b.Do("tap remove b", chromedp.Click(chromedp.CSS(`#pool-admin-body button[data-act="remove"][data-pool="b"]`)))
	b.WaitFor("armed", `document.querySelector('#pool-admin-body button[data-act="remove"][data-pool="b"]').textContent === 'Confirm remove'`)
	if got := poolNames(a); got != "b,p" {
		t.Fatalf("one click removed a pool: %s", got)
	}
	b.Do("tap confirm", chromedp.Click(chromedp.CSS(`#pool-admin-body button[data-act="remove"][data-pool="b"]`)))
	b.WaitFor("b gone", order+` === 'p' && document.querySelector('#pool-admin-body button[data-act="remove"][data-pool="p"]').disabled`)
	b.Shot("phone-removed")
	if got := poolNames(a); got != "p" {
		t.Fatalf("pools after removal: %s", got)
	}
}
