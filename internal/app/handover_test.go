package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// TestHandoverLedgerHoldsThenReplays: before the store is attached, share events are held in
// order up to the cap and the newest past it dropped; attach records the held ones, says how
// many were dropped, and passes later events straight on. Forwarded shares count as in flight
// until their verdict, and settle waits for them.
func TestHandoverLedgerHoldsThenReplays(t *testing.T) {
	var logs lockedBuffer
	h := newHandoverLedger(zerolog.New(&logs))
	h.max = 5
	now := time.Now()
	// Event i of share k: a verdict carries its forwarded share's hash.
	ev := func(i int, r proxy.Result, k byte) proxy.ShareEvent {
		return proxy.ShareEvent{Time: now.Add(time.Duration(i) * time.Millisecond), Worker: fmt.Sprintf("acct.w%d", i), Pool: "p",
			JobID: "j", Difficulty: 1, ShareDiff: 2, Result: r, Hash: [32]byte{k}}
	}
	inflight := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.inflight)
	}
	for i := range 4 {
		h.RecordShare(ev(i, proxy.ResultForwarded, byte(i+1)))
	}
	h.RecordShare(ev(4, proxy.ResultPoolAccepted, 1))
	h.RecordShare(ev(5, proxy.ResultPoolAccepted, 2)) // past the cap: dropped, still a verdict
	h.RecordShare(ev(6, proxy.ResultPoolUnknown, 3))
	if n := inflight(); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if left := h.settle(ctx); left != 1 {
		t.Fatalf("settle with one verdict missing returned %d", left)
	}
	cancel()
	// settle waits for what was in flight when it began, not for shares forwarded since.
	wait := h.pending()
	h.RecordShare(ev(7, proxy.ResultForwarded, 9))
	h.RecordShare(ev(8, proxy.ResultPoolRejected, 4))
	if left := h.await(context.Background(), wait); left != 0 {
		t.Fatalf("settled with %d in flight", left)
	}
	if n := inflight(); n != 1 {
		t.Fatalf("in flight %d, want the share forwarded during settle", n)
	}

	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "hashgate.db")
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h.attach(st)
	if !strings.Contains(logs.String(), `"replayed":5`) || !strings.Contains(logs.String(), `"dropped":4`) {
		t.Fatalf("attach logged %s", logs.String())
	}
	h.RecordShare(ev(9, proxy.ResultPoolAccepted, 9))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Shares(context.Background(), store.ShareQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(rows) - 1; i >= 0; i-- {
		got = append(got, rows[i].Worker)
	}
	if want := "acct.w0,acct.w1,acct.w2,acct.w3,acct.w4,acct.w9"; strings.Join(got, ",") != want {
		t.Fatalf("ledger %v, want %s", got, want)
	}
}
