package cluster

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/store"
)

// An owner's command records wait for the store writer in a bounded queue: beyond it a
// record is dropped and counted (records_dropped), what is queued reaches the store as the
// miners' last states, and a store that refuses them is counted (record_errors), never fatal.
// Orders of this instance's own term and its floor Runner's are recorded by their Runner and
// do not queue here.
func TestOwnRecordsBoundedAndCounted(t *testing.T) {
	sc := store.DefaultConfig()
	sc.Path, sc.PruneInterval = filepath.Join(t.TempDir(), "own.db"), 0
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cc := DefaultConfig()
	cc.Site, cc.Instance, cc.NATSURL = "site1", "b", "nats://127.0.0.1:4222"
	n, err := New(cc, Options{Policy: sitePolicy(30), Record: power.NewAudit(st)})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 64 // bound's policy on a smaller queue: SQLite under -race is slow
	n.records = make(chan ownRecord, bound)
	pause := func(i int) policy.Decision {
		return policy.Decision{MinerID: "b-" + strconv.Itoa(i), Action: policy.ActionPause, Reason: policy.ReasonImportLimit}
	}
	n.recordOrder(pause(0), "b", false) // its own term: its Runner records it
	n.recordOrder(pause(0), "", false)  // its floor Runner: recorded by that Runner
	if len(n.records) != 0 {
		t.Fatalf("%d records queued for orders its own Runners record", len(n.records))
	}
	for i := range bound + 5 {
		n.recordOrder(pause(i), "a", false)
	}
	if s := n.Status(); s.RecordsDropped != 5 || s.RecordErrors != 0 {
		t.Fatalf("dropped %d, errors %d; want 5 dropped", s.RecordsDropped, s.RecordErrors)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.writeRecords(ctx)
	}()
	var last map[string]store.MinerState
	waitFor(t, "the queued records stored", func() bool {
		if last, err = st.LastStates(context.Background()); err != nil {
			t.Fatal(err)
		}
		return len(last) >= bound
	})
	cancel()
	<-done
	if len(last) != bound || last["b-0"].Action != "pause" || last["b-"+strconv.Itoa(bound-1)].Action != "pause" {
		t.Fatalf("%d last states stored (b-0 %+v), want %d pauses", len(last), last["b-0"], bound)
	}
	if _, ok := last["b-"+strconv.Itoa(bound)]; ok {
		t.Fatal("a dropped record reached the store")
	}
	st.Close()
	n.recordOrder(pause(0), "a", true)
	n.flushRecords()
	if s := n.Status(); s.RecordErrors != 1 {
		t.Fatalf("record errors %d after the store closed, want 1", s.RecordErrors)
	}
}
