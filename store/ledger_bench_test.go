//go:build linux

package store

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fleetShares makes the share events of a fleet of workers each submitting
// one share in turn: accepted locally, one in a hundred (spread at random
// over the workers) also forwarded and accepted by the pool (the bench's
// forward ratio), one in two hundred rejected as stale instead. Worker and
// job ids look like a real site's and ckpool's; i is the share's index, at
// one share every 100 µs (10,000/s).
type fleetShares struct {
	workers []string
	at      time.Time
}

func newFleetShares(workers int) *fleetShares {
	f := &fleetShares{at: t0}
	for w := range workers {
		f.workers = append(f.workers, fmt.Sprintf("site-north.rack%02d.s19xp-%05d", w/100, w))
	}
	return f
}

// events returns the events share i produces.
func (f *fleetShares) events(i int, buf []ShareEvent) []ShareEvent {
	e := ShareEvent{
		Time:            f.at.Add(time.Duration(i) * 100 * time.Microsecond),
		Worker:          f.workers[i%len(f.workers)],
		Pool:            "ckpool-eu-primary",
		Job:             fmt.Sprintf("%016x", i/300_000), // a new job every 30 s
		Difficulty:      65536,
		ShareDifficulty: 65536 + float64(i%4096)*17.25,
		Result:          ResultAcceptedLocal,
	}
	buf = buf[:0]
	// A fixed scramble of i, so that which worker forwards or is rejected
	// does not follow the round-robin.
	p := (uint64(i) * 0x9E3779B97F4A7C15 >> 32) % 1000
	switch {
	case p < 5:
		e.Result, e.Reason = ResultRejected, "stale"
		return append(buf, e)
	case p < 15:
		buf = append(buf, e)
		e.Hash = fmt.Sprintf("%064x", i)
		e.Result = ResultForwarded
		buf = append(buf, e)
		e.Result = ResultPoolAccepted
		return append(buf, e)
	}
	return append(buf, e)
}

// reportDisk reports the bytes a raw ledger row and a rollup row take on
// disk, indexes included, from SQLite's own page accounting.
func reportDisk(b *testing.B, s *Store, workers int, span time.Duration) {
	b.Helper()
	var raw, rollup, rawRows, rollupRows float64
	if err := s.read.QueryRow(`SELECT
		(SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ('shares', 'shares_ts')),
		(SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'share_rollup%'),
		(SELECT COUNT(*) FROM shares), (SELECT COUNT(*) FROM share_rollup)`).
		Scan(&raw, &rollup, &rawRows, &rollupRows); err != nil {
		b.Fatal(err)
	}
	if rawRows > 0 {
		b.ReportMetric(raw/rawRows, "raw-B/row")
	}
	if rollupRows > 0 {
		b.ReportMetric(rollup/rollupRows, "rollup-B/row")
		if m := span.Minutes(); m >= 1 {
			b.ReportMetric(rollupRows/(float64(workers)*m), "rollup-rows/worker-min")
		}
	}
}

// BenchmarkLedger10kMiners is the production write path (RecordShare, the
// batcher, the rollup, the cap's trims) with the default configuration, fed
// at 10,000 shares a second by 10,000 workers, paced in real time. It
// reports the CPU the whole process spends per share, the events the store
// could not take (shed or lost: 0 means it keeps up), and the bytes a raw
// and a rollup row take on disk. Run it for a minute or more:
//
//	go test -run '^$' -bench Ledger10kMiners -benchtime 600000x ./store/
func BenchmarkLedger10kMiners(b *testing.B) {
	const workers, rate = 10_000, 10_000
	cfg := benchConfig(b)
	s := openTest(b, cfg, hooks{})
	f := newFleetShares(workers)
	ctx := context.Background()
	var buf []ShareEvent
	events := 0
	cpu0 := cpuTime(b)
	start := time.Now()
	i := 0
	for ; b.Loop(); i++ {
		if i%100 == 0 {
			// Pace: share i is due i/rate seconds after the start.
			if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
				time.Sleep(d)
			}
		}
		buf = f.events(i, buf)
		for _, e := range buf {
			if err := s.RecordShare(ctx, e); err != nil && e.Result.Lossless() {
				b.Fatal(err)
			}
			events++
		}
	}
	mustFlush(b, s)
	cpu := cpuTime(b) - cpu0
	wall := time.Since(start)
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/share")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(i)/wall.Seconds(), "shares/s")
	b.ReportMetric(float64(events)/float64(i), "events/share")
	b.ReportMetric(float64(st.SharesShed+st.SharesLost), "dropped")
	reportDisk(b, s, workers, time.Duration(i)*time.Second/rate)
	// The same rows folded into their hour: the shape the rollup keeps
	// after minute_rollup_retention.
	s.pruneMu.Lock()
	_, err := s.foldMinutes(ctx, f.at.Add(time.Duration(i)*time.Second/rate+time.Minute).Unix())
	s.pruneMu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	var bytes, rows float64
	if err := s.read.QueryRow(`SELECT (SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'share_rollup_hour%'),
		(SELECT COUNT(*) FROM share_rollup_hour)`).Scan(&bytes, &rows); err != nil {
		b.Fatal(err)
	}
	if rows > 0 {
		b.ReportMetric(bytes/rows, "hour-B/row")
	}
}

// BenchmarkLedgerAtCap is the writer's ceiling once the cap binds: every
// committed row makes the trims delete one, so it measures insert, rollup
// and delete together. Events are pool verdicts (lossless, with a hash),
// sent as fast as the store takes them from 10,000 workers, into a ledger
// pre-filled to the cap.
//
//	go test -run '^$' -bench LedgerAtCap -benchtime 2000000x ./store/
func BenchmarkLedgerAtCap(b *testing.B) {
	const workers = 10_000
	cfg := benchConfig(b)
	cfg.ShareMaxRows = 200_000
	s := openTest(b, cfg, hooks{})
	f := newFleetShares(workers)
	ctx := context.Background()
	e := f.events(0, nil)[0]
	e.Result, e.Reason, e.Hash = ResultPoolAccepted, "", fmt.Sprintf("%064x", 1)
	fill := func(from, n int) {
		for i := from; i < from+n; i++ {
			e.Time, e.Worker = f.at.Add(time.Duration(i)*100*time.Microsecond), f.workers[i%workers]
			if err := s.RecordShare(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	fill(0, int(cfg.ShareMaxRows))
	mustFlush(b, s)
	pruned := s.Stats().RowsPruned
	cpu0 := cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		fill(int(cfg.ShareMaxRows)+n, 1)
		n++
	}
	mustFlush(b, s)
	b.StopTimer()
	wall, cpu := time.Since(start), cpuTime(b)-cpu0
	b.ReportMetric(float64(n)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/event")
	b.ReportMetric(float64(s.Stats().RowsPruned-pruned)/float64(n), "trimmed/event")
	reportDisk(b, s, workers, time.Duration(n)*100*time.Microsecond)
	// The whole file at steady state (free pages and WAL included), per
	// raw row the cap keeps.
	var size int64
	for _, p := range []string{cfg.Path, cfg.Path + "-wal"} {
		size += fileSize(b, p)
	}
	b.ReportMetric(float64(size)/float64(cfg.ShareMaxRows), "file-B/capped-row")
}

// BenchmarkFoldMinute10kWorkers folds one minute of a 10,000-worker rollup
// (two results per worker, as BenchmarkLedger10kMiners measures about) into
// its hour: the time the share writer waits for each fold transaction.
//
//	go test -run '^$' -bench FoldMinute10kWorkers ./store/
func BenchmarkFoldMinute10kWorkers(b *testing.B) {
	const workers = 10_000
	cfg := benchConfig(b)
	s := openTest(b, cfg, hooks{})
	f := newFleetShares(workers)
	ctx := context.Background()
	fill := func(minutes int) {
		b.Helper()
		for m := range minutes {
			tx, err := s.ledger.Begin()
			if err != nil {
				b.Fatal(err)
			}
			up := tx.Stmt(s.stmts.upsertRollup)
			for w, name := range f.workers {
				minute := t0.Unix() + int64(m)*60
				for _, r := range []Result{ResultAcceptedLocal, ResultRejected} {
					if r == ResultRejected && w%4 != 0 {
						continue
					}
					if _, err := up.Exec(minute, name, "ckpool-eu-primary", int64(r), "", 60, 60*65536.0); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	fill(b.N)
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	b.ResetTimer()
	var rows int64
	for range b.N {
		n, err := s.foldMinute(ctx, t0.Unix()+int64(b.N)*60)
		if err != nil || n == 0 {
			b.Fatal(n, err)
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/float64(b.N), "rows/minute")
}
