package app

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/alert"
	"github.com/hashgate/hashgate/internal/browsertest"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/pool"
)

// TestAlertBannerInTheConsole: the console page, open in headless Chromium, shows a critical
// banner when the only pool goes away (from its periodic GET /api/v1/alerts, without a
// reload) and hides it once the pool is back.
func TestAlertBannerInTheConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	sp, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Proxy.BackoffMin, f.Proxy.BackoffMax = proxy.Duration(100*time.Millisecond), proxy.Duration(500*time.Millisecond)
	f.Alert.CheckInterval = alert.Duration(time.Second)
	f.Alert.PoolDownFor = alert.Duration(time.Second)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	waitFor(t, "the pool to come up", func() bool { return a.Proxy.Pools()[0].State == "up" })
	waitFor(t, "no alert firing", func() bool { return len(a.Alerts.Latest().Firing) == 0 })

	b := browsertest.New(t, "http://"+a.ConsoleAddr.String(), "../../testdata/artifacts/alerts")
	b.Page("overview", `document.getElementById('live-text').textContent === 'live'`)
	b.WaitFor("the banner hidden", `document.getElementById('alerts').classList.contains('hidden')`)

	sp.Close()
	const item = `document.querySelector('#alerts .alert-item.critical[data-alert="no_pool_up"]')`
	b.WaitFor("the no_pool_up banner", `!document.getElementById('alerts').classList.contains('hidden') && `+item+` !== null`)
	if got := b.Text(`#alerts .alert-item[data-alert="no_pool_up"] .sum`); got != "No pool is up: miners get no work" {
		t.Fatalf("banner summary %q", got)
	}
	b.Shot("banner")

	sp2, err := pool.New(pool.Config{Difficulty: 1e-5, NBits: pool.DefaultConfig().NBits, Extranonce1Size: 4, Extranonce2Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	if _, err := sp2.Listen(paddr); err != nil {
		t.Fatal(err)
	}
	b.WaitFor("the banner gone", `document.getElementById('alerts').classList.contains('hidden') && `+item+` === null`)
}
