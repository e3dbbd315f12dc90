package console

import (
	"net/http/httptest"
	"testing"

	"github.com/hashgate/hashgate/internal/browsertest"
	"github.com/hashgate/hashgate/proxy"
)

// TestBrowserPoolHealth: the pools table says when a pool gets every share under the pool
// user and why, and how many shares a pool left unanswered or never got; a pool without
// either shows neither.
func TestBrowserPoolHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	b := newFleetBackend(2, false)
	b.pools[0].WorkerNames = "pool_user"
	b.pools[0].WorkerNamesReason = "no answer to the authorize of acct.rig1 within worker_auth_timeout"
	b.pools[0].Unknown, b.pools[0].Unforwarded = 3, 1200
	b.pools = append(b.pools, proxy.PoolStats{Name: "backup", URL: "stratum+tcp://backup.example:3333", Priority: 1, State: "up",
		Connections: 1, Shares: map[string]uint64{}, WorkerNames: "passthrough"})
	s := newServer(t, authConfig(), b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	br := browsertest.New(t, ts.URL, artifacts)
	br.SignIn("alice", adminPassword)
	const rows = `[...document.querySelectorAll('#pools-body tr')]`
	br.Page("pools", rows+`.length === 2`)
	br.WaitFor("the pool-user note", rows+`[0].children[1].textContent.includes('shares under the pool user: no answer to the authorize of acct.rig1 within worker_auth_timeout')`)
	br.WaitFor("the counts", rows+`[0].children[1].textContent.includes('unanswered 3 · not forwarded 1,200')`)
	br.WaitFor("nothing on the healthy pool", `!`+rows+`[1].children[1].textContent.includes('pool user') && !`+rows+`[1].children[1].textContent.includes('unanswered')`)
	br.Shot("pools-health")
}
