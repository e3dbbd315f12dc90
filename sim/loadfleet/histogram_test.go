package loadfleet

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketRangeContainsValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1<<20 - 1, 1 << 20, 1<<63 - 1, 1 << 63, ^uint64(0)}
	for range 10000 {
		vals = append(vals, r.Uint64()>>r.IntN(64))
	}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if lo > 0 && float64(hi-lo) > float64(lo)/subBuckets {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d", i, lo, hi, subBuckets)
		}
	}
	// Buckets tile the number line: each starts right after the previous one ends.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) + 0.9999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func TestHistogramQuantilesMatchExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 10, 99, 100, 1000, 54321} {
		var h Histogram
		vals := make([]time.Duration, n)
		for i := range vals {
			// Log-normal-ish latencies from 20 µs to seconds, plus some exact small values.
			v := time.Duration(20e3 * (1 + r.ExpFloat64()*r.ExpFloat64()*50))
			if i%17 == 0 {
				v = time.Duration(r.IntN(128))
			}
			vals[i] = v
			h.Record(v)
		}
		slices.Sort(vals)
		if h.Count() != uint64(n) {
			t.Fatalf("n=%d: count %d", n, h.Count())
		}
		if h.Max() != vals[n-1] {
			t.Fatalf("n=%d: max %v, want %v", n, h.Max(), vals[n-1])
		}
		for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			got, want := h.Quantile(q), exactQuantile(vals, q)
			tol := want / subBuckets
			if got < want-tol || got > want+tol {
				t.Errorf("n=%d q=%v: got %v, want %v ± %v", n, q, got, want, tol)
			}
		}
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-time.Second)
	if h.Count() != 1 || h.Quantile(0.99) != 0 {
		t.Fatalf("negative duration: count %d, p99 %v", h.Count(), h.Quantile(0.99))
	}
	h.Reset()
	if h.Count() != 0 {
		t.Fatal("reset kept samples")
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10000 {
				h.Record(time.Duration(g*10000 + i))
			}
		}()
	}
	wg.Wait()
	if h.Count() != 80000 || h.Max() != 79999 {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
	if p := h.Quantile(0.5); p < 39000 || p > 41000 {
		t.Fatalf("p50 %v", p)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(12345)
		for pb.Next() {
			h.Record(d)
			d += 977
		}
	})
}
