package proxy

import (
	"strings"
	"testing"
	"time"

	simpool "github.com/hashgate/hashgate/sim/pool"
)

// TestPoolsSilentSubmitsFailOver: a pool that keeps sending jobs but stops answering
// mining.submit holds every share the proxy forwards. Each is counted unknown once
// submit_timeout passes, and after three in a row the pool is failed over: the miners move to
// the backup on the connections they have, and the silent pool stays down, saying why.
func TestPoolsSilentSubmitsFailOver(t *testing.T) {
	primary, a1 := startPool(t, func(c *simpool.Config) { c.Seed = 1; c.JobInterval = 500 * time.Millisecond })
	backup, a2 := startPool(t, func(c *simpool.Config) { c.Seed = 2 })
	logs, log := logSink()
	cfg := testConfig(a1, a2)
	cfg.SubmitTimeout = Duration(2 * time.Second)
	px, addr := startProxy(t, cfg, Options{Logger: log})
	ms := startMiners(t, addr, 3, "rackS", nil)
	eventually(t, "mining on the primary", func() bool { return primary.Accepted() > 5 })

	primary.SetMode(simpool.SilentSubmits)
	eventually(t, "the fleet on the backup", func() bool {
		return px.Status().ActivePool == "pool1" && backup.Accepted() > 5
	})
	for _, m := range ms {
		if n := m.Stats.Connects.Load(); n != 1 {
			t.Fatalf("miner %s connected %d times; failover must keep its connection", m.Worker(), n)
		}
	}
	row := px.Pools()[0]
	if row.Unknown < submitTimeoutFailover || !strings.HasPrefix(row.Reason, "submits unanswered") || row.State != "down" {
		t.Fatalf("silent pool row: unknown %d, state %s, reason %q", row.Unknown, row.State, row.Reason)
	}
	// The pool still sends work: it is down for its share path alone.
	if row.Connections != 1 || row.LastJob == nil || time.Since(*row.LastJob) > time.Minute {
		t.Fatalf("silent pool lost its connection or its jobs: %+v", row)
	}
	eventually(t, "every held share to end as unknown", func() bool {
		r := px.Pools()[0]
		return r.Shares["forwarded"] == r.Shares["pool_accepted"]+r.Shares["pool_rejected"]+r.Shares["pool_unknown"]
	})
	row = px.Pools()[0]
	if row.Shares["pool_unknown"] != row.Unknown || row.Unforwarded != 0 {
		t.Fatalf("unknown %d, ledger pool_unknown %d, unforwarded %d", row.Unknown, row.Shares["pool_unknown"], row.Unforwarded)
	}
	if n := logs.count("pool left a share unanswered"); n != 1 {
		t.Fatalf("timeouts logged %d times, want once for the run", n)
	}

	// A redial does not end the cool-down: a pool whose connections keep dropping (or whose
	// subscribes go unanswered) would otherwise win the fleet back on every dial.
	sessions := primary.Sessions()
	primary.DisconnectAll()
	eventually(t, "the silent pool redialled and sending work", func() bool {
		r := px.Pools()[0]
		return primary.Sessions() > sessions && r.Connections == 1 && primary.Connections() > 0
	})
	px.maybeFailover() // a supervise round's failover decision on the new session, now (a sleep may not see one)
	row = px.Pools()[0]
	if !strings.Contains(row.Reason, "cooling down") || px.Status().ActivePool != "pool1" {
		t.Fatalf("after a redial the silent pool is %s (%q), active %s; want it cooling down", row.State, row.Reason, px.Status().ActivePool)
	}
}
