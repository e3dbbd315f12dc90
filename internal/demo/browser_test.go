package demo

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/internal/browsertest"
)

// TestBrowserAgainstDemo drives the console of the real demo (simulated pools, miners and
// site through the whole product) in headless Chromium, as a newcomer would: signed out the
// API refuses; signed in, live numbers move; pausing a fleet group from the policy page stops
// its miners at the proxy; resuming brings them back. Screenshots go to
// testdata/artifacts/demo.
func TestBrowserAgainstDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	d, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", Console: "127.0.0.1:0", Miners: 6, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := browsertest.New(t, "http://"+d.App.ConsoleAddr.String(), "../../testdata/artifacts/demo")
	b.SignIn(User, Password)

	b.WaitFor("shares", `document.getElementById('v-accepted').textContent !== '–'`)
	first := b.Text("#v-accepted")
	b.WaitFor("accepted shares to move", `document.getElementById('v-accepted').textContent !== `+strconv.Quote(first))
	b.Shot("overview")
	b.Page("miners", `document.querySelectorAll('#miners-body tr.clickable').length === 6`)
	b.Shot("miners")

	const group = "rack2-s19-braiins"
	row := `document.querySelector('tr[data-group="` + group + `"]')`
	b.Page("policy", row+` !== null`)
	b.Click("pause "+group, `tr[data-group="`+group+`"] button[data-action="pause"]`)
	b.WaitFor(group+" paused", row+`.children[5].textContent === '0'`)
	for _, w := range d.App.Proxy.Workers() {
		if strings.HasPrefix(w.Worker, "rack2.") && w.State != "paused" {
			t.Fatalf("proxy still runs %s (%s) after the group pause", w.Worker, w.State)
		}
	}
	b.Shot("policy-paused")
	b.Click("resume "+group, `tr[data-group="`+group+`"] button[data-action="resume"]`)
	b.WaitFor(group+" running again", row+`.children[5].textContent !== '0'`)
	b.SignOut()
}
