package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func benchConfig(b *testing.B) Config {
	cfg := DefaultConfig()
	cfg.Path = b.TempDir() + "/bench.db"
	cfg.PruneInterval = 0
	return cfg
}

// BenchmarkShareBatcher measures sustained share events per second through
// the batcher to disk. Events are lossless (pool verdicts), so a producer
// faster than the writer is held back rather than shed: the rate reported is
// what is committed, with the rollup.
func BenchmarkShareBatcher(b *testing.B) {
	s := openTest(b, benchConfig(b), hooks{})
	ctx := context.Background()
	events := make([]ShareEvent, 64)
	for i := range events {
		events[i] = share(fmt.Sprintf("rig%d", i%16), ResultPoolAccepted, t0, i)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		e := events[i%len(events)]
		e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		if err := s.RecordShare(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	mustFlush(b, s)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(s.Stats().Batches), "batches")
}

// BenchmarkShareBatcherParallel is BenchmarkShareBatcher with one producer
// per GOMAXPROCS, as many miner sessions would be.
func BenchmarkShareBatcherParallel(b *testing.B) {
	s := openTest(b, benchConfig(b), hooks{})
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := s.RecordShare(ctx, share("rig", ResultForwarded, t0.Add(time.Duration(i)*time.Millisecond), i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	mustFlush(b, s)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkRecordShareLossyEnqueue measures the caller's cost of a local
// share: a channel send, or a shed into the overflow rollup.
func BenchmarkRecordShareLossyEnqueue(b *testing.B) {
	s := openTest(b, benchConfig(b), hooks{})
	ctx := context.Background()
	e := share("rig1", ResultAcceptedLocal, t0, 0)
	for b.Loop() {
		s.RecordShare(ctx, e)
	}
	b.StopTimer()
	mustFlush(b, s)
	st := s.Stats()
	b.ReportMetric(float64(st.SharesShed)/float64(b.N), "shed/op")
}

// BenchmarkRecordEvent measures the latency of one durable audit record:
// a transaction on the synchronous=FULL connection, fsync included.
func BenchmarkRecordEvent(b *testing.B) {
	s := openTest(b, benchConfig(b), hooks{})
	ctx := context.Background()
	e := Event{Time: t0, Kind: "manual.pause", Subject: "m1", Actor: "alice", Detail: []byte(`{"target_kw":0}`)}
	for b.Loop() {
		if _, err := s.RecordEvent(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordDecisions100 measures one policy tick of 100 decisions and
// state updates in one durable transaction.
func BenchmarkRecordDecisions100(b *testing.B) {
	s := openTest(b, benchConfig(b), hooks{})
	ctx := context.Background()
	ds := make([]Decision, 100)
	for i := range ds {
		ds[i] = Decision{Time: t0, MinerID: fmt.Sprintf("m%d", i), Action: "set_power", TargetKW: 3, ReasonCode: "surplus",
			Inputs: []byte(`{"surplus_kw":120.5,"import_kw":-3}`)}
	}
	for b.Loop() {
		if err := s.RecordDecisions(ctx, ds...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordEventUnderShareLoad is BenchmarkRecordEvent while the
// batcher is committing a continuous share stream.
func BenchmarkRecordEventUnderShareLoad(b *testing.B) {
	s := openTest(b, benchConfig(b), hooks{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			s.RecordShare(ctx, share("rig1", ResultForwarded, t0, i))
		}
	}()
	e := Event{Time: t0, Kind: "meter.stale", Subject: "meter1"}
	for b.Loop() {
		if _, err := s.RecordEvent(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
