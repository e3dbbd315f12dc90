package loadfleet

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations lock-free into log-linear buckets: exact below 128 ns, then 64
// buckets per power of two, so any quantile it reports is within 1/64 (1.6 %) of a recorded
// value. Recording touches one bucket counter (and the maximum only when it grows), so
// concurrent recorders rarely share a cache line. It holds no samples, so it costs the same at a thousand shares as at a billion.
// The zero value is ready to use; it is safe for concurrent use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Uint64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
	// numBuckets covers every uint64: the largest value's shift is 64-subBits-1.
	numBuckets = (64-subBits-1+1)*subBuckets + subBuckets
)

// bucketOf maps v to its bucket index.
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [64, 127]
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subBuckets {
		return uint64(i), uint64(i)
	}
	shift := uint(i/subBuckets - 1)
	lo = uint64(i%subBuckets+subBuckets) << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Max is the largest recorded duration (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average recorded duration, from bucket midpoints (within 1.6 %).
func (h *Histogram) Mean() time.Duration {
	var n uint64
	var sum float64
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			lo, hi := bucketRange(i)
			n += c
			sum += float64(c) * (float64(lo) + float64(hi-lo)/2)
		}
	}
	if n == 0 {
		return 0
	}
	return time.Duration(sum / float64(n))
}

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank rule: the smallest
// recorded value such that at least q of all values are at or below it, reported as the
// middle of its bucket and never above Max. It is 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.9999999)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			if m := h.max.Load(); mid > m {
				mid = m
			}
			return time.Duration(mid)
		}
	}
	return h.Max()
}

// Reset forgets everything recorded. It must not race with Record if exact counts matter.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.max.Store(0)
}

// Summary is a histogram's figures for a report, in milliseconds.
type Summary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summarize returns the histogram's summary.
func (h *Histogram) Summarize() Summary {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Summary{
		Count:  h.Count(),
		MeanMs: ms(h.Mean()),
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		MaxMs:  ms(h.Max()),
	}
}
