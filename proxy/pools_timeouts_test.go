package proxy

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestPoolsUnansweredSubscribeReconnects: a pool that takes the connection and never answers
// mining.subscribe leaves it useless; after submit_timeout the proxy closes it and connects
// again rather than wait on it for ever.
func TestPoolsUnansweredSubscribeReconnects(t *testing.T) {
	sp, paddr := startPool(t, nil)
	sp.SetMode(simpool.Stall)
	cfg := testConfig(paddr)
	cfg.SubmitTimeout = Duration(time.Second)
	px, _ := startProxy(t, cfg, Options{})
	eventually(t, "the proxy to give up on the silent connection and connect again", func() bool { return sp.Sessions() >= 3 })
	if row := px.Pools()[0]; row.State != "down" || row.Reason != "no answer to mining.subscribe within submit_timeout" {
		t.Fatalf("pool row %+v", row)
	}
	sp.SetMode(simpool.Normal)
	eventually(t, "the pool up once it answers", func() bool { return px.Pools()[0].State == "up" })
}

// collect returns a verdict callback and the verdicts it got.
func collect() (func(verdict), *[]verdict) {
	var got []verdict
	return func(v verdict) { got = append(got, v) }, &got
}

// TestPoolsV1SubmitTimeoutThenLateAnswer: submits the pool leaves unanswered past
// submit_timeout end as unknown, once each; an answer arriving after that is ignored.
func TestPoolsV1SubmitTimeoutThenLateAnswer(t *testing.T) {
	clk := clock.NewManual(time.Now())
	cfg := testConfig("127.0.0.1:1")
	px, err := New(cfg, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	pl := px.poolList()[0]
	u := newUpstreamV1(pl, 0)
	u.out = make(chan []byte, 8)
	done, got := collect()
	for range 3 {
		u.submit(&upShare{worker: "w", jobID: "1", extranonce2: []byte{1, 2, 3, 4}}, done)
	}
	first := u.nextID.Load() - 2
	clk.Advance(cfg.SubmitTimeout.D() - time.Millisecond)
	u.sweep(clk.Now())
	if len(*got) != 0 {
		t.Fatalf("timed out early: %+v", *got)
	}
	clk.Advance(time.Millisecond)
	u.sweep(clk.Now())
	if len(*got) != 3 || pl.unknown.Load() != 3 || pl.timeouts != 3 {
		t.Fatalf("verdicts %+v, unknown %d, timeouts in a row %d", *got, pl.unknown.Load(), pl.timeouts)
	}
	for _, v := range *got {
		if v.known || v.message != "no answer within submit_timeout" {
			t.Fatalf("verdict %+v", v)
		}
	}
	line := sv1.AppendBoolResponse(nil, sv1.IntID(first), true)
	m, err := sv1.Decode(line[:len(line)-1])
	if err != nil {
		t.Fatal(err)
	}
	u.handle(m)
	if len(*got) != 3 || pl.timeouts != 3 {
		t.Fatalf("a late answer changed the outcome: %d verdicts, %d timeouts", len(*got), pl.timeouts)
	}
	// The pool answering again ends the run of timeouts.
	u.submit(&upShare{worker: "w", jobID: "1", extranonce2: []byte{1, 2, 3, 4}}, done)
	line = sv1.AppendBoolResponse(nil, sv1.IntID(u.nextID.Load()), true)
	m, _ = sv1.Decode(line[:len(line)-1])
	u.handle(m)
	if v := (*got)[3]; !v.known || !v.accepted || pl.timeouts != 0 {
		t.Fatalf("answered share %+v, timeouts %d", v, pl.timeouts)
	}
}

// TestPoolsV2SubmitTimeoutAndLoss: on a V2 pool too, shares left unanswered past
// submit_timeout are unknown, and shares in flight when the connection drops, or sent while
// there is none, are unforwarded.
func TestPoolsV2SubmitTimeoutAndLoss(t *testing.T) {
	clk := clock.NewManual(time.Now())
	cfg := testConfig("127.0.0.1:1")
	px, err := New(cfg, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	pl := px.poolList()[0]
	u := newUpstreamV2(pl, 0)
	u.out, u.connected = make(chan []byte, 8), true
	share := func() *upShare { return &upShare{worker: "w", jobID: "7", extranonce2: []byte{1, 2, 3, 4}} }
	done, got := collect()
	u.submit(share(), done)
	u.submit(share(), done)
	clk.Advance(cfg.SubmitTimeout.D())
	u.submit(share(), done) // sent now: not yet late
	u.sweep(clk.Now())
	if len(*got) != 2 || pl.unknown.Load() != 2 || len(u.order) != 1 {
		t.Fatalf("verdicts %+v, unknown %d, still pending %d", *got, pl.unknown.Load(), len(u.order))
	}
	u.teardown()
	if len(*got) != 3 || (*got)[2].message != "pool connection lost" || pl.unforwarded.Load() != 1 {
		t.Fatalf("after the drop: %+v, unforwarded %d", *got, pl.unforwarded.Load())
	}
	u.submit(share(), done)
	if len(*got) != 4 || (*got)[3].message != "pool unavailable" || pl.unforwarded.Load() != 2 {
		t.Fatalf("without a connection: %+v, unforwarded %d", *got, pl.unforwarded.Load())
	}
}
