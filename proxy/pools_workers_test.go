package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// These tests run passthrough worker names against the pool software hashgate meets: pools
// that take any worker name (public-pool), ckpool (answers only a connection's first
// authorize and refuses shares under any other name) and pools that refuse worker names.

const fallbackLine = "pool does not take per-worker names"

// logSink is a proxy logger writing JSON lines the test can count.
func logSink() (*syncBuffer, *zerolog.Logger) {
	b := &syncBuffer{}
	l := zerolog.New(b).With().Timestamp().Logger()
	return b, &l
}

func allMinersAccepted(ms []*miner.Miner, n uint64) bool {
	for _, m := range ms {
		if m.Stats.Accepted.Load() < n {
			return false
		}
	}
	return true
}

// TestPoolsWorkerNamesAcrossPoolSoftware: several miners through the proxy with
// worker_names = passthrough. Every share is accepted whatever the pool does with worker
// names; where it takes them, each worker has its own shares at the pool; where it does not
// (ckpool ignores the authorize, another pool refuses it), the proxy falls back to the pool
// user for that pool, says so once in the log however many workers and shares there are,
// and shows it in the pool's row. No share ever goes under a name the pool did not accept.
func TestPoolsWorkerNamesAcrossPoolSoftware(t *testing.T) {
	for _, tc := range []struct {
		software string
		auth     simpool.Auth
		names    string // the pool row's worker_names
		why      string // in worker_names_reason
	}{
		{"public-pool", simpool.AuthAny, "passthrough", ""},
		{"ckpool", simpool.AuthFirstOnly, "pool_user", "no answer to the authorize of acct.rack"},
		{"refuses worker names", simpool.AuthRefuseWorkers, "pool_user", "pool refused the authorize of acct.rack"},
	} {
		t.Run(tc.software, func(t *testing.T) {
			sp, paddr := startPool(t, func(c *simpool.Config) { c.Auth = tc.auth })
			logs, log := logSink()
			cfg := testConfig(paddr)
			cfg.WorkerAuthTimeout = Duration(2 * time.Second) // generous: a loaded machine must not make the public pool look silent
			px, addr := startProxy(t, cfg, Options{Logger: log})
			ms := startMiners(t, addr, 4, "rackA", nil)

			eventually(t, "every miner accepted and the pool row settled", func() bool {
				if !allMinersAccepted(ms, 5) || px.Pools()[0].WorkerNames != tc.names {
					return false
				}
				if tc.names == "passthrough" {
					for i := range ms {
						if sp.AcceptedBy(fmt.Sprintf("acct.rackA.m%02d", i)) == 0 {
							return false
						}
					}
				}
				return true
			})
			// More shares after the fallback, so a log line per share would show.
			acc := sp.Accepted()
			eventually(t, "more shares at the pool", func() bool { return sp.Accepted() > acc+20 })

			row := px.Pools()[0]
			if !strings.Contains(row.WorkerNamesReason, tc.why) || (tc.why == "") != (row.WorkerNamesReason == "") {
				t.Fatalf("worker_names_reason %q, want it to contain %q", row.WorkerNamesReason, tc.why)
			}
			wantLines := 0
			if tc.names == "pool_user" {
				wantLines = 1
				if sp.AcceptedBy("acct") == 0 {
					t.Fatal("no share at the pool under the pool user")
				}
				for i := range ms {
					if n := sp.AcceptedBy(fmt.Sprintf("acct.rackA.m%02d", i)); n != 0 {
						t.Fatalf("%d shares under a worker name the pool never authorized", n)
					}
				}
			}
			if n := logs.count(fallbackLine); n != wantLines {
				t.Fatalf("fallback logged %d times, want %d", n, wantLines)
			}
			if sp.Rejected() != 0 || row.Shares["pool_rejected"] != 0 {
				t.Fatalf("pool rejected %d shares (proxy saw %d)", sp.Rejected(), row.Shares["pool_rejected"])
			}
			for _, m := range ms {
				if r := m.Rejects(); len(r) != 0 {
					t.Fatalf("miner %s got rejects %v", m.Worker(), r)
				}
			}
			// Every authorize the pool ignored was dropped when its time ran out: none waits.
			u := px.poolList()[0].conn(0).(*upstreamV1)
			u.mu.Lock()
			for _, r := range u.pending {
				if r.kind == "authorize" && tc.names == "pool_user" {
					u.mu.Unlock()
					t.Fatalf("authorize of %s still pending after the fallback", r.worker)
				}
			}
			u.mu.Unlock()
		})
	}
}

// TestPoolsSharesDoNotWaitForWorkerAuthorize: against ckpool, which never answers a worker's
// authorize, shares go to the pool under the pool user while the authorize is pending rather
// than waiting for it (the proxy's clock is stopped, so worker_auth_timeout never passes);
// when it passes, the pool is switched to the pool user, once.
func TestPoolsSharesDoNotWaitForWorkerAuthorize(t *testing.T) {
	sp, paddr := startPool(t, func(c *simpool.Config) { c.Auth = simpool.AuthFirstOnly })
	logs, log := logSink()
	clk := clock.NewManual(time.Now())
	cfg := testConfig(paddr)
	cfg.SubmitRate = 1e6 // the submit limiter refills on the proxy's clock, which stands still here
	px, addr := startProxy(t, cfg, Options{Logger: log, Clock: clk})
	ms := startMiners(t, addr, 3, "rackB", nil)
	eventually(t, "shares accepted under the pool user while authorizes are pending", func() bool {
		return allMinersAccepted(ms, 5) && sp.AcceptedBy("acct") >= 15
	})
	if row := px.Pools()[0]; row.WorkerNames != "passthrough" {
		t.Fatalf("fell back before worker_auth_timeout passed: %+v", row)
	}
	eventually(t, "the fallback once worker_auth_timeout has passed", func() bool {
		clk.Advance(250 * time.Millisecond)
		return px.Pools()[0].WorkerNames == "pool_user"
	})
	// The pool row changes before the line is written.
	eventually(t, "the fallback logged", func() bool { return logs.count(fallbackLine) > 0 })
	if n := logs.count(fallbackLine); n != 1 {
		t.Fatalf("fallback logged %d times", n)
	}
	if sp.Rejected() != 0 {
		t.Fatalf("pool rejected %d shares", sp.Rejected())
	}
}

// TestPoolsWorkerMismatchRejectFallsBack: a pool that accepted a worker's authorize but
// refuses its shares for the name (ckpool's bare-string "Worker mismatch", or
// [24,"Unauthorized worker",null]) gets no more shares under any worker name; the refused
// share is reported to its miner as the pool's reject, not sent again.
func TestPoolsWorkerMismatchRejectFallsBack(t *testing.T) {
	for _, line := range []string{
		`{"result":false,"error":"Worker mismatch","id":%d}`,
		`{"id":%d,"result":null,"error":[24,"Unauthorized worker",null]}`,
	} {
		px, err := New(testConfig("127.0.0.1:1"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		pl := px.poolList()[0]
		u := newUpstreamV1(pl, 0)
		u.out = make(chan []byte, 8)
		u.workers["acct.w1"] = authOK
		if got := u.submitName("w1"); got != "acct.w1" {
			t.Fatalf("authorized worker submits as %q", got)
		}
		var got verdict
		u.submit(&upShare{worker: "w1", jobID: "1", extranonce2: []byte{0, 0, 0, 0}}, func(v verdict) { got = v })
		sent, _ := sv1.Decode(<-u.out)
		var s sv1.Submit
		if err := sent.UnmarshalParams(&s); err != nil || s.Worker != "acct.w1" {
			t.Fatalf("submitted %+v (%v)", s, err)
		}
		m, err := sv1.Decode([]byte(fmt.Sprintf(line, u.nextID.Load())))
		if err != nil {
			t.Fatal(err)
		}
		u.handle(m)
		if !got.known || got.accepted || got.code != sv1.CodeUnauthorized {
			t.Fatalf("%s: verdict %+v", line, got)
		}
		if name, why := pl.naming(); name != "pool_user" || !strings.Contains(why, "pool rejected a share under acct.w1") {
			t.Fatalf("%s: naming %q %q", line, name, why)
		}
		if n := u.submitName("w1"); n != "acct" {
			t.Fatalf("after the fallback the worker submits as %q", n)
		}
		u.ensureWorker("w2")
		if len(u.out) != 0 {
			t.Fatal("a worker was authorized after the fallback")
		}
	}
}

// TestPoolsWorkerNamesOnSV2AndPoolUserOnly: the pool row says where names do not pass
// through by configuration or protocol.
func TestPoolsWorkerNamesOnSV2AndPoolUserOnly(t *testing.T) {
	cfg := testConfig("127.0.0.1:1")
	cfg.WorkerNames = "pool_user_only"
	px, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, why := px.poolList()[0].naming(); n != "pool_user" || why != "worker_names = pool_user_only" {
		t.Fatalf("pool_user_only: %q %q", n, why)
	}
	p2, a2 := startPool2(t, nil)
	cfg = testConfig()
	cfg.Pools = []PoolConfig{{Name: "v2", URL: v2URL(p2, a2), User: "acct"}}
	if px, err = New(cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := px.poolList()[0].naming(); n != "pool_user" {
		t.Fatalf("sv2 pool: %q", n)
	}
}
