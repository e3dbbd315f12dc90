package cluster

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
)

// A rollback of more gates than the record queue holds, with the store writer behind (a slow
// disk): every rolled-back miner's command carried out is still stored, none dropped. A
// dropped one would leave its abandoned pause as the stored state for good, since no later
// order comes for a miner every leader takes as running.
func TestRollbackRecordsBeyondTheQueueAllStored(t *testing.T) {
	const miners = recordQueue + 100
	st := openStore(t, filepath.Join(t.TempDir(), "b.db"))
	defer st.Close()
	audit := power.NewAudit(st)
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "rr", "b", "nats://127.0.0.1:1"
	n, err := New(cc, Options{Policy: sitePolicy(1000), Record: audit})
	if err != nil {
		t.Fatal(err)
	}
	gates := newSlowGates()
	n.local = gates
	since := time.Now().Add(-time.Hour)
	ids := make([]string, miners)
	pauses := make([]policy.Decision, miners)
	for i := range ids {
		ids[i] = fmt.Sprintf("b-%d", i)
		n.UpsertMiner(policy.Miner{ID: ids[i], Worker: ids[i], Group: "g", RatedKW: 3.5, EfficiencyJTH: 17.5, Proven: true,
			Commanded: policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: since}})
		pauses[i] = policy.Decision{MinerID: ids[i], Group: "g", Action: policy.ActionPause, FromKW: 3.5, Reason: policy.ReasonSafeFloor,
			Basis: policy.Basis{At: time.Now()}}
	}
	// The floor's step: every gate closed, none carried out; some of the pauses already
	// stored as decided (the others' records would only slow the test).
	localActuator{n}.Plan(pauses)
	const stored = 100
	if err := audit.RecordBatch(context.Background(), pauses[:stored], nil); err != nil {
		t.Fatal(err)
	}
	if k := storedPausesOf(t, st, ids); k != stored {
		t.Fatalf("%d pauses stored, want %d", k, stored)
	}
	// A leader heard: the floor's gates roll back while the writer is not running yet.
	n.rollbackPlans(math.MaxUint64, time.Now())
	if closed := gates.closedOnRunning(n); len(closed) > 0 {
		t.Fatalf("%d gates left closed on running miners", len(closed))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.writeRecords(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "every rollback stored", func() bool {
		time.Sleep(100 * time.Millisecond) // a scan of every miner's state each time
		last, err := st.LastStates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if last[id].Action != policy.ActionRun.String() {
				return false
			}
		}
		return true
	})
	if s := n.Status(); s.RecordsDropped != 0 || s.RecordErrors != 0 {
		t.Fatalf("records dropped %d, refused %d", s.RecordsDropped, s.RecordErrors)
	}
}
