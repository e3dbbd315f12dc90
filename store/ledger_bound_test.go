package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// fileSize is the size of path, or 0 when it does not exist.
func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// pollUntil polls cond; the deadline only keeps a broken store from hanging
// the test on a loaded machine.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queryInt runs a one-number query through the read pool.
func queryInt(t testing.TB, s *Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.read.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// overCap counts the rows the cap should have deleted, allowing the rows the
// writer commits before it asks for the next trim.
func overCap(t testing.TB, s *Store, slack int64) int64 {
	return queryInt(t, s, `SELECT COUNT(*) FROM shares WHERE result NOT IN (`+capExempt+`)
		AND rowid <= (SELECT MAX(rowid) FROM shares) - ?`, s.cfg.ShareMaxRows+slack)
}

// Worst-case bytes on disk per row, about twice what the shapes below
// measure (raw: ~125 B with its ts index, 190 B with a hash; rollup: ~110 B
// with its worker index), so the bound holds on any page layout and fails
// by far if the cap does not hold.
const (
	rawRowBound    = 400
	rollupRowBound = 250
)

// TestLedgerBoundedOverDays writes three simulated days of shares at a
// scaled-down rate, with the store's own pruner and the cap's trims at work:
// the file (db + wal) stays under a bound derived from share_max_rows and
// stops growing, the rollup still counts every share, and block candidates
// and pool rejections are kept for share_retention.
func TestLedgerBoundedOverDays(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.ShareMaxRows = 3000
	cfg.ShareRetention = 12 * time.Hour
	cfg.Retention = 0 // rollups forever: every share must still be counted at the end
	cfg.PruneInterval = 30 * time.Minute
	// Batches commit at max_batch or a flush, as under load, not one per
	// share as an idle writer would.
	cfg.FlushInterval = time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()

	const (
		days      = 3
		perMinute = 20
		workers   = 2
	)
	type kept struct {
		at   time.Time
		r    Result
		hash string
	}
	var exempt []kept
	want := map[Result]int64{}
	var peak, pagesDay2, rollupPagesDay2 int64
	i := 0
	for minute := 0; minute < days*24*60; minute++ {
		job := fmt.Sprintf("%016x", minute)
		for k := 0; k < perMinute; k++ {
			i++
			w := i % workers
			e := ShareEvent{
				Time:            clock.Now().Add(time.Duration(k) * time.Minute / perMinute),
				Worker:          fmt.Sprintf("site-north.rack%02d.s19xp-%05d", w, w),
				Pool:            "ckpool-eu-primary",
				Job:             job,
				Difficulty:      65536,
				ShareDifficulty: 65536 + float64(i),
			}
			record := func(r Result, reason string) {
				t.Helper()
				e.Result, e.Reason, e.Hash = r, reason, ""
				if r.Lossless() {
					e.Hash = fmt.Sprintf("%064x", i)
				}
				if err := s.RecordShare(ctx, e); err != nil && r.Lossless() {
					t.Fatal(err)
				}
				want[r]++
				if r.keptPastCap() {
					exempt = append(exempt, kept{e.Time, r, e.Hash})
				}
			}
			switch {
			case i%97 == 0:
				record(ResultRejected, "stale")
			case i%701 == 0: // a block candidate, forwarded, accepted
				record(ResultAcceptedLocal, "")
				record(ResultBlockCandidate, "")
				record(ResultForwarded, "")
				record(ResultPoolAccepted, "")
			case i%101 == 0:
				record(ResultAcceptedLocal, "")
				record(ResultForwarded, "")
				record(ResultPoolRejected, "job not found")
			case i%499 == 0:
				record(ResultAcceptedLocal, "")
				record(ResultForwarded, "")
				record(ResultPoolUnknown, "timeout")
			case i%20 == 0:
				record(ResultAcceptedLocal, "")
				record(ResultForwarded, "")
				record(ResultPoolAccepted, "")
			default:
				record(ResultAcceptedLocal, "")
			}
		}
		clock.Advance(time.Minute)
		if (minute+1)%60 != 0 {
			continue
		}
		// Every simulated hour: wait for the trims the writer asked for,
		// then the cap holds to within what the writer commits between
		// two requests.
		mustFlush(t, s)
		slack := trimEvery(cfg.ShareMaxRows) + int64(cfg.MaxBatch)
		pollUntil(t, "the cap's trims", func() bool { return overCap(t, s, slack) == 0 })
		size := fileSize(t, cfg.Path) + fileSize(t, cfg.Path+"-wal")
		peak = max(peak, size)
		if minute+1 == 2*24*60 {
			pagesDay2, rollupPagesDay2 = queryInt(t, s, `PRAGMA page_count`), rollupPages(t, s)
		}
	}
	mustFlush(t, s)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.SharesShed != 0 || st.SharesLost != 0 {
		t.Fatalf("the writer dropped events, the rollup check below would not hold: %+v", st)
	}

	// The rollup counts every share ever written, though most raw rows
	// are gone and the minutes past minute_rollup_retention are hours.
	for r, n := range want {
		if got := queryInt(t, s, `SELECT COALESCE(SUM(n), 0) FROM
			(SELECT n FROM share_rollup WHERE result = ? UNION ALL SELECT n FROM share_rollup_hour WHERE result = ?)`,
			int64(r), int64(r)); got != n {
			t.Errorf("rollup counts %d %v events, %d were written", got, r, n)
		}
	}
	if n := countRows(t, s, "share_rollup_hour"); n == 0 {
		t.Fatal("no minute folded into hours")
	}
	raw := queryInt(t, s, `SELECT COUNT(*) FROM shares`)
	var total int64
	for _, n := range want {
		total += n
	}
	if raw >= total/10 {
		t.Fatalf("%d of %d raw rows kept: the cap did not hold", raw, total)
	}

	// Every exempt row younger than share_retention is kept, hash and all;
	// older ones went with the retention.
	cutoff := clock.Now().Add(-cfg.ShareRetention)
	var young int
	for _, k := range exempt {
		n := queryInt(t, s, `SELECT COUNT(*) FROM shares WHERE ts = ? AND result = ? AND hash = ?`,
			k.at.UnixNano(), int64(k.r), k.hash)
		switch {
		case !k.at.Before(cutoff) && n != 1:
			t.Errorf("%v at %v (hash %s) lost to the cap", k.r, k.at, k.hash)
		case k.at.Before(cutoff) && n != 0:
			t.Errorf("%v at %v outlived share_retention", k.r, k.at)
		}
		if !k.at.Before(cutoff) {
			young++
		}
	}
	if young < 100 {
		t.Fatalf("only %d exempt rows in the retention window: the test proves little", young)
	}
	// Of the rest, only the newest share_max_rows (plus what arrived after
	// the last trim) remain.
	if n := overCap(t, s, trimEvery(cfg.ShareMaxRows)); n != 0 {
		t.Fatalf("%d rows over the cap after the last trim", n)
	}

	// The file: the raw rows the cap allows (with its slack, a batch, and
	// an hour written while a trim runs), the exempt rows, the rollup, and
	// a WAL the autocheckpoint and journal_size_limit keep to walSizeLimit.
	rollupRows := queryInt(t, s, `SELECT (SELECT COUNT(*) FROM share_rollup) + (SELECT COUNT(*) FROM share_rollup_hour)`)
	rawBound := cfg.ShareMaxRows + trimEvery(cfg.ShareMaxRows) + int64(cfg.MaxBatch) + 60*perMinute*2 + int64(young)
	dbBound := 256<<10 + rawBound*rawRowBound + rollupRows*rollupRowBound
	db, wal := fileSize(t, cfg.Path), fileSize(t, cfg.Path+"-wal")
	t.Logf("%d events over %d days: %d raw rows kept, %d rollup rows; db %d B (bound %d), wal %d B, peak db+wal %d B",
		total, days, raw, rollupRows, db, dbBound, wal, peak)
	if db > dbBound {
		t.Errorf("db file %d B over the bound %d B derived from share_max_rows", db, dbBound)
	}
	if peak > dbBound+walSizeLimit {
		t.Errorf("db + wal peaked at %d B, over %d B", peak, dbBound+walSizeLimit)
	}
	// Once the cap binds, the pages the trims free are used again: over the
	// last day the database (WAL pages included) grew only by the pages
	// its rollup rows took, give or take the raw rows in flight.
	grown := queryInt(t, s, `PRAGMA page_count`) - pagesDay2
	rollupGrown := rollupPages(t, s) - rollupPagesDay2
	t.Logf("last day: database grew %d pages, the rollup %d; %d pages free", grown, rollupGrown, queryInt(t, s, `PRAGMA freelist_count`))
	if grown > rollupGrown+64 {
		t.Errorf("database grew %d pages over the last day, its rollup rows took %d", grown, rollupGrown)
	}
}

// rollupPages counts the pages the rollup and its index use.
func rollupPages(t testing.TB, s *Store) int64 {
	return queryInt(t, s, `SELECT COUNT(*) FROM dbstat WHERE name LIKE 'share_rollup%'`)
}

// TestShareCapKeepsNewestAndExempt: past share_max_rows the oldest rows go
// first, whatever their time; pool rejections, unanswered shares and block
// candidates stay, and a trim does not count them as deleted.
func TestShareCapKeepsNewestAndExempt(t *testing.T) {
	cfg := testConfig(t)
	cfg.Clock = newManualClock(t0)
	cfg.ShareMaxRows = 100
	cfg.ShareRetention = 0
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	var exempt int64
	for i := range 1000 {
		r := ResultAcceptedLocal
		switch i % 50 {
		case 7:
			r = ResultPoolRejected
		case 19:
			r = ResultBlockCandidate
		case 31:
			r = ResultPoolUnknown
		case 43:
			r = ResultPoolAccepted
		}
		if r.keptPastCap() {
			exempt++
		}
		// Times run backwards: the cap goes by commit order, not by time.
		if err := s.RecordShare(ctx, share("rig1", r, t0.Add(-time.Duration(i)*time.Second), i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			mustFlush(t, s) // rowids in recording order
		}
	}
	mustFlush(t, s)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	top := queryInt(t, s, `SELECT MAX(rowid) FROM shares`)
	if n := queryInt(t, s, `SELECT COUNT(*) FROM shares WHERE rowid > ?`, top-100); n != 100 {
		t.Fatalf("%d of the newest 100 rows kept", n)
	}
	old := queryInt(t, s, `SELECT COUNT(*) FROM shares WHERE rowid <= ?`, top-100)
	oldExempt := queryInt(t, s, `SELECT COUNT(*) FROM shares WHERE rowid <= ? AND result IN (`+capExempt+`)`, top-100)
	if old != oldExempt || oldExempt != exempt-3*2 { // the newest 100 rows hold 2 of each exempt kind
		t.Fatalf("below the cap %d rows kept, %d exempt; want only the %d exempt", old, oldExempt, exempt-6)
	}
	if st := s.Stats(); st.RowsPruned != uint64(1000-100-old) {
		t.Fatalf("RowsPruned %d, want %d", st.RowsPruned, 1000-100-old)
	}
	// The rollup still counts all of them.
	if n := queryInt(t, s, `SELECT SUM(n) FROM share_rollup`); n != 1000 {
		t.Fatalf("rollup counts %d shares", n)
	}
}

// TestShareCapAfterRetentionEmptiedLedger: when retention deletes the newest
// rows, SQLite hands their rowids out again; the cap must still trim the new
// rows that get them.
func TestShareCapAfterRetentionEmptiedLedger(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.ShareMaxRows = 10
	cfg.ShareRetention = time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	write := func(n int) {
		t.Helper()
		for i := range n {
			if err := s.RecordShare(ctx, share("rig1", ResultPoolAccepted, clock.Now(), i)); err != nil {
				t.Fatal(err)
			}
		}
		mustFlush(t, s)
	}
	write(200)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "shares"); n != 10 {
		t.Fatalf("%d rows after the first trim", n)
	}
	clock.Advance(2 * time.Hour)
	r, err := s.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "shares"); n != 0 || r.Shares != 10 {
		t.Fatalf("retention left %d rows, pruned %+v", n, r)
	}
	write(150) // rowids from 1 again, below where the first trims got to
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "shares"); n != 10 {
		t.Fatalf("%d rows after trimming reused rowids, want 10", n)
	}
}

// TestShareCapTrimsAtOpenAndByItself: a ledger over a lowered cap is trimmed
// when the store opens, and the writer keeps it there between prunes, with
// no Prune call and no prune_interval.
func TestShareCapTrimsAtOpenAndByItself(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShareMaxRows = 0
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	for i := range 3000 {
		if err := s.RecordShare(ctx, share("rig1", ResultForwarded, t0, i)); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.ShareMaxRows = 500
	s = openTest(t, cfg, hooks{})
	pollUntil(t, "the trim at open", func() bool { return countRows(t, s, "shares") == 500 })
	for round := range 5 {
		for i := range 1000 {
			if err := s.RecordShare(ctx, share("rig1", ResultForwarded, t0, round*1000+i)); err != nil {
				t.Fatal(err)
			}
		}
		mustFlush(t, s)
		slack := trimEvery(cfg.ShareMaxRows)
		pollUntil(t, "the writer's trims", func() bool { return countRows(t, s, "shares") <= int(cfg.ShareMaxRows+slack) })
	}
	// Of the 8,000 rows this store saw, what is not left was trimmed (the
	// counter moves just after each trim's commit), and no Prune ran.
	pollUntil(t, "the trims counted", func() bool {
		return uint64(countRows(t, s, "shares"))+s.Stats().RowsPruned == 8000
	})
	if st := s.Stats(); st.Prunes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWALCutBackAfterLongReader: a reader holding a snapshot (a backup, a
// long query) lets the WAL grow with every commit; once it is gone the WAL
// is cut back to walSizeLimit instead of keeping its peak size for good.
func TestWALCutBackAfterLongReader(t *testing.T) {
	cfg := testConfig(t)
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	i := 0
	write := func(n int) {
		t.Helper()
		for range n {
			i++
			e := share(fmt.Sprintf("site-north.rack%02d.s19xp-%05d", i%50, i%1000), ResultAcceptedLocal, t0.Add(time.Duration(i)*time.Millisecond), i)
			if err := s.RecordShare(ctx, e); err != nil {
				t.Fatal(err)
			}
			if i%1000 == 0 {
				mustFlush(t, s) // no shedding
			}
		}
		mustFlush(t, s)
	}
	wal := func() int64 { return fileSize(t, cfg.Path+"-wal") }

	conn, err := s.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("SELECT COUNT(*) FROM shares"); err != nil { // the snapshot starts here
		t.Fatal(err)
	}
	for wal() <= walSizeLimit+walSizeLimit/2 {
		write(2000)
	}
	peak := wal()
	tx.Rollback()
	conn.Close()
	// The next checkpoint that gets through lets the WAL restart, and the
	// writer that restarts it cuts it back.
	pollUntil(t, "the WAL cut back", func() bool {
		write(500)
		return wal() <= walSizeLimit
	})
	t.Logf("WAL peaked at %d B under the reader, %d B after", peak, wal())
}

// TestRollupFoldsMinutesIntoHours: minutes older than minute_rollup_retention
// become hours with the same totals; a late event for a folded minute is
// folded into its hour at the next prune; a query over part of a folded hour
// counts the whole hour.
func TestRollupFoldsMinutesIntoHours(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	cfg.MinuteRollupRetention = 2 * time.Hour
	s := openTest(t, cfg, hooks{})
	ctx := context.Background()
	record := func(e ShareEvent) {
		t.Helper()
		if err := s.RecordShare(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for m := 0; m < 5*60; m += 7 {
		at := t0.Add(time.Duration(m) * time.Minute)
		record(share("rig1", ResultAcceptedLocal, at, m))
		record(share("rig2", ResultAcceptedLocal, at, m))
		if m%3 == 0 {
			record(share("rig1", ResultPoolRejected, at, m))
		}
	}
	mustFlush(t, s)
	clock.Advance(5 * time.Hour)
	all := func() []WorkerStats {
		t.Helper()
		st, err := s.ShareStats(ctx, t0, clock.Now(), "")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	before := all()
	r, err := s.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Minutes before 3h after t0 are folded: 3 hours, rig1's and rig2's
	// accepted shares and rig1's rejects.
	if r.MinutesFolded == 0 || r.Total() != 0 {
		t.Fatalf("prune %+v", r)
	}
	if n := queryInt(t, s, `SELECT COUNT(*) FROM share_rollup WHERE minute < ?`, t0.Add(3*time.Hour).Unix()); n != 0 {
		t.Fatalf("%d minute rows older than minute_rollup_retention left", n)
	}
	if n := countRows(t, s, "share_rollup_hour"); n != 3*3 {
		t.Fatalf("%d hour rows, want 9 (3 hours x rig1 accepted, rig1 rejected, rig2 accepted)", n)
	}
	if after := all(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("totals changed by folding:\nbefore %+v\n after %+v", before, after)
	}

	// A late event for the first, folded, minute joins its hour.
	record(share("rig1", ResultAcceptedLocal, t0, 0))
	mustFlush(t, s)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT n FROM share_rollup_hour WHERE hour = ? AND worker = 'rig1' AND result = ?`,
		t0.Unix(), int64(ResultAcceptedLocal)); n != 9+1 {
		t.Fatalf("rig1's first hour counts %d accepted shares, want 10", n)
	}
	// Ten minutes of a folded hour count the whole hour; ten minutes of
	// recent ones count those minutes.
	part, err := s.ShareStats(ctx, t0.Add(10*time.Minute), t0.Add(20*time.Minute), "rig2")
	if err != nil {
		t.Fatal(err)
	}
	if len(part) != 1 || part[0].AcceptedLocal.Count != 9 {
		t.Fatalf("a part of a folded hour: %+v", part)
	}
	recent, err := s.ShareStats(ctx, t0.Add(4*time.Hour), t0.Add(4*time.Hour+10*time.Minute), "rig2")
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 1 || recent[0].AcceptedLocal.Count != 1 { // minute 245 only
		t.Fatalf("ten recent minutes: %+v", recent)
	}
}

// TestMigrateFromSchema1KeepsLedger: a database written by the build before
// the hourly rollup opens with every record readable, and its old minutes
// fold like new ones.
func TestMigrateFromSchema1KeepsLedger(t *testing.T) {
	cfg := testConfig(t)
	clock := newManualClock(t0)
	cfg.Clock = clock
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:1]
	restore := oldRollupWriter(t)
	old := openTest(t, cfg, hooks{})
	ctx := context.Background()
	var sent int
	for m := range 180 {
		for _, r := range []Result{ResultAcceptedLocal, ResultForwarded, ResultPoolAccepted} {
			if err := old.RecordShare(ctx, share(fmt.Sprintf("rig%d", m%4), r, t0.Add(time.Duration(m)*time.Minute), m)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	if _, err := old.RecordEvent(ctx, Event{Time: t0, Kind: "test.kept"}); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	migrations = saved
	restore()
	cfg.MinuteRollupRetention = time.Hour
	s := openTest(t, cfg, hooks{})
	if v := queryInt(t, s, `PRAGMA user_version`); v != int64(len(saved)) {
		t.Fatalf("user_version %d after migrating", v)
	}
	got, err := s.Shares(ctx, ShareQuery{Page: Page{Limit: MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != sent || got[0].Hash != "00000000000000000001aa" {
		t.Fatalf("%d of %d shares read back after migrating", len(got), sent)
	}
	if ev, err := s.Events(ctx, EventQuery{}); err != nil || len(ev) != 1 {
		t.Fatalf("events after migrating: %v %v", ev, err)
	}
	clock.Advance(4 * time.Hour)
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.ShareStats(ctx, t0, clock.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	var accepted int64
	for _, w := range st {
		accepted += w.PoolAccepted.Count
	}
	if accepted != 180 || countRows(t, s, "share_rollup_hour") == 0 || countRows(t, s, "share_rollup") != 0 {
		t.Fatalf("after folding the old minutes: %d pool-accepted counted, %d hour rows, %d minute rows",
			accepted, countRows(t, s, "share_rollup_hour"), countRows(t, s, "share_rollup"))
	}
}
