package proxy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/work"
)

const twoTo32 = 4294967296.0

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestHashMeterWindows: each window is the accepted difficulty in it over the time it covers;
// a quiet stretch leaves only the shares still inside; a window with none reads 0, not the
// last value.
func TestHashMeterWindows(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).Truncate(time.Hour) // bucket-aligned
	var m hashMeter
	since := t0.Add(-48 * time.Hour) // observed long enough: the full windows apply
	// 10 shares of difficulty 1000, one every 30 s over the first 5 min.
	for i := range 10 {
		m.add(t0.Add(time.Duration(i)*30*time.Second), 1000)
	}
	now := t0.Add(4*time.Minute + 45*time.Second) // in the 10th 30 s bucket
	r := m.rates(now, since)
	if want := 10 * 1000 * twoTo32 / (4*60 + 45); !near(r.H5m, want) {
		t.Fatalf("5m with every share inside: %v, want %v", r.H5m, want)
	}
	// 3.5 min without a share: at 8 min 15 s the 5 min window is 3:30..8:15 (9 whole
	// buckets and 15 s of the current one): only the shares at 3:30, 4:00 and 4:30 are in it.
	now = t0.Add(8*time.Minute + 15*time.Second)
	r = m.rates(now, since)
	if want := 3 * 1000 * twoTo32 / (9*30 + 15); !near(r.H5m, want) {
		t.Fatalf("5m after 3.5 min without a share: %v, want %v", r.H5m, want)
	}
	// The hour window still holds all ten: 11 whole 5 min buckets and 3 min 15 s.
	if want := 10 * 1000 * twoTo32 / (11*300 + 195); !near(r.H1h, want) {
		t.Fatalf("1h: %v, want %v", r.H1h, want)
	}
	if want := 10 * 1000 * twoTo32 / (23*3600 + 495); !near(r.H24h, want) {
		t.Fatalf("24h: %v, want %v", r.H24h, want)
	}
	// Five minutes after the last share (at 4:30), nothing is left in the 5 min window.
	r = m.rates(t0.Add(9*time.Minute+30*time.Second), since)
	if r.H5m != 0 || r.H1h == 0 {
		t.Fatalf("5 min after the last share: 5m %v (want 0), 1h %v", r.H5m, r.H1h)
	}
	// A day later every window is empty; a share then starts afresh (old slots are reused).
	later := t0.Add(25 * time.Hour)
	if r := m.rates(later, since); r != (Rates{}) {
		t.Fatalf("a day later: %+v, want zero", r)
	}
	m.add(later, 500)
	r = m.rates(later.Add(time.Minute), since)
	if want := 500 * twoTo32 / (9 * 30); !near(r.H5m, want) { // later+1 min is bucket-aligned
		t.Fatalf("after reuse: %v, want %v", r.H5m, want)
	}
}

// TestHashMeterYoungMiner: a miner connected 2 minutes ago is estimated over those 2 minutes
// in every window, not diluted over 5 min, 1 h or 24 h.
func TestHashMeterYoungMiner(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).Truncate(time.Hour).Add(7 * time.Second)
	var m hashMeter
	for i := range 4 {
		m.add(t0.Add(time.Duration(i)*30*time.Second), 2)
	}
	r := m.rates(t0.Add(2*time.Minute), t0)
	want := 4 * 2 * twoTo32 / 120
	if !near(r.H5m, want) || !near(r.H1h, want) || !near(r.H24h, want) {
		t.Fatalf("young miner: %+v, want %v in each window", r, want)
	}
	// A share in its first instant is not read as a rate over zero time.
	var y hashMeter
	y.add(t0, 1)
	if r := y.rates(t0, t0); !near(r.H5m, twoTo32) {
		t.Fatalf("first instant: %v, want 1 s of span", r.H5m)
	}
}

// TestHashMeterClockBack: a share stamped after now (a clock stepped back) is not counted
// in a window that ends before it.
func TestHashMeterClockBack(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).Truncate(time.Hour)
	var m hashMeter
	m.add(t0.Add(2*time.Hour), 1)
	if r := m.rates(t0, t0.Add(-time.Hour)); r != (Rates{}) {
		t.Fatalf("future share counted: %+v", r)
	}
}

// TestHashrateTotalsPausedV1: 12 real miners over loopback, each with its shares accepted.
// Pausing 10 drops the proxy's "now" hashrate to the 2 that run at once, and the 5 min window
// to their shares once it has passed; a paused worker reports state paused and 0 now, while
// its windows still show what it hashed.
func TestHashrateTotalsPausedV1(t *testing.T) {
	t0 := time.Now().Truncate(time.Hour).Add(time.Hour)
	clk := clock.NewManual(t0)
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, testConfig(paddr), Options{Clock: clk})
	poolT := work.MustTarget(1e-5)
	local := func(h *[32]byte) bool { return !poolT.Met(h) } // counted here, not forwarded
	const n, sharesEach = 12, 3
	ms := make([]*shareMiner, n)
	perMiner := make([]float64, n) // accepted difficulty
	for i := range ms {
		ms[i] = dialShareMiner(t, addr, fmt.Sprintf("site.m%02d", i))
	}
	for i, m := range ms {
		for range sharesEach {
			if r := m.submit(m.find(local)); !r.Accepted() {
				t.Fatalf("miner %d share: %v", i, r.Error)
			}
			perMiner[i] += m.diff
		}
	}
	var all float64
	for _, d := range perMiner {
		all += d
	}
	clk.Advance(time.Minute)
	st := px.Status()
	if want := all * twoTo32 / 60; !near(st.Hashrate, want) || !near(st.Hashrate5m, want) {
		t.Fatalf("12 running: now %v, 5m %v, want %v", st.Hashrate, st.Hashrate5m, want)
	}

	for i := 2; i < n; i++ {
		px.Pause(ms[i].worker)
	}
	st = px.Status()
	running := (perMiner[0] + perMiner[1]) * twoTo32 / 60
	if st.Paused != 10 || !near(st.Hashrate, running) {
		t.Fatalf("10 paused: paused %d, now %v, want %v (the 2 running)", st.Paused, st.Hashrate, running)
	}
	w := workerRow(t, px, ms[5].worker)
	if w.State != "paused" || w.Hashrate != 0 || !near(w.Hashrate5m, perMiner[5]*twoTo32/60) {
		t.Fatalf("paused worker: state %s now %v 5m %v", w.State, w.Hashrate, w.Hashrate5m)
	}

	// The 2 running keep mining; past the 5 min window only their shares count.
	clk.Advance(5 * time.Minute)
	var recent float64
	for _, m := range ms[:2] {
		if r := m.submit(m.find(local)); !r.Accepted() {
			t.Fatalf("running share after the pause: %v", r.Error)
		}
		recent += m.diff
	}
	clk.Advance(30 * time.Second)
	st = px.Status()
	// t0 is hour-aligned: at +6:30 the 5 min window covers 9 whole buckets and 0 s of the
	// current one, and the shares at +6:00 are the only ones in it.
	want5m := recent * twoTo32 / (9 * 30)
	if !near(st.Hashrate5m, want5m) {
		t.Fatalf("site 5m after the window: %v, want %v (the 2 running only)", st.Hashrate5m, want5m)
	}
	if want := (all + recent) * twoTo32 / 390; !near(st.Hashrate1h, want) {
		t.Fatalf("site 1h: %v, want %v (every counted share over the 6.5 min observed)", st.Hashrate1h, want)
	}
	if w := workerRow(t, px, ms[5].worker); w.Hashrate5m != 0 || w.Hashrate1h == 0 {
		t.Fatalf("paused worker after 5 quiet minutes: 5m %v (want 0), 1h %v", w.Hashrate5m, w.Hashrate1h)
	}
}

// TestHashMeterSize: the meter is fixed arrays, no maps or slices: what a miner costs does
// not grow with its share rate (issue 10 budgets 6 KiB per idle miner in all).
func TestHashMeterSize(t *testing.T) {
	if n := unsafe.Sizeof(hashMeter{}); n > 768 {
		t.Fatalf("hashMeter is %d bytes, want <= 768", n)
	}
	var m hashMeter
	now := time.Unix(1_800_000_000, 0)
	if a := testing.AllocsPerRun(1000, func() { now = now.Add(time.Second); m.add(now, 1) }); a != 0 {
		t.Fatalf("add allocates %v times", a)
	}
}

// slottedMeter is the meter as it was before its slots shared one epoch base: each slot
// carries its own bucket number. TestHashMeterSameAnswers holds the compact meter to it.
type slottedMeter struct {
	m5  [10]slottedSlot
	h1  [12]slottedSlot
	d24 [24]slottedSlot
}

type slottedSlot struct {
	n   int64
	sum float64
}

func (m *slottedMeter) add(now time.Time, diff float64) {
	for _, r := range []struct {
		s []slottedSlot
		d time.Duration
	}{{m.m5[:], bucket5m}, {m.h1[:], bucket1h}, {m.d24[:], bucket24h}} {
		b := now.UnixNano() / int64(r.d)
		i := b % int64(len(r.s))
		if r.s[i].n != b {
			r.s[i] = slottedSlot{n: b}
		}
		r.s[i].sum += diff
	}
}

func (m *slottedMeter) rates(now, since time.Time) Rates {
	rate := func(s []slottedSlot, d time.Duration) float64 {
		b := now.UnixNano() / int64(d)
		var sum float64
		for _, x := range s {
			if age := b - x.n; age >= 0 && age < int64(len(s)) {
				sum += x.sum
			}
		}
		if sum == 0 {
			return 0
		}
		span := time.Duration(len(s)-1)*d + time.Duration(now.UnixNano()-b*int64(d))
		span = max(min(span, now.Sub(since)), time.Second)
		return sum * twoTo32 / span.Seconds()
	}
	return Rates{H5m: rate(m.m5[:], bucket5m), H1h: rate(m.h1[:], bucket1h), H24h: rate(m.d24[:], bucket24h)}
}

// TestHashMeterSameAnswers: over 5,000 shares at uneven rates (bursts, quiet
// minutes, silent hours, difficulties from 1e-10 to 1e6), the compact meter reads what the
// meter with a bucket number per slot read, in every window, at every moment asked.
func TestHashMeterSameAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 46))
	t0 := time.Unix(1_800_000_000, 123_456_789)
	since := t0.Add(-time.Duration(rng.Int64N(int64(48 * time.Hour))))
	var got hashMeter
	var want slottedMeter
	now := t0
	checked := 0
	for range 5000 {
		var gap time.Duration
		switch rng.IntN(10) {
		case 0: // a silent stretch of up to 3 hours
			gap = time.Duration(rng.Int64N(int64(3 * time.Hour)))
		case 1, 2: // a quiet minute or so
			gap = time.Duration(rng.Int64N(int64(2 * time.Minute)))
		default: // a burst
			gap = time.Duration(rng.Int64N(int64(5 * time.Second)))
		}
		now = now.Add(gap)
		diff := math.Pow(10, rng.Float64()*16-10)
		got.add(now, diff)
		want.add(now, diff)
		at := now.Add(time.Duration(rng.Int64N(int64(26 * time.Hour))))
		if rng.IntN(4) == 0 {
			at = now
		}
		g, w := got.rates(at, since), want.rates(at, since)
		if !near(g.H5m, w.H5m) || !near(g.H1h, w.H1h) || !near(g.H24h, w.H24h) {
			t.Fatalf("at %v (last share %v): compact %+v, slotted %+v", at, now, g, w)
		}
		checked++
	}
	if checked < 1000 {
		t.Fatalf("only %d moments compared", checked)
	}
}

// TestHashMeterIdleHoldsNoSlots: a miner that never had a share accepted holds no slots (an
// idle fleet pays 16 bytes a miner for its meter); the first share allocates them once, in
// one object of at most 376 bytes, and the next ones allocate nothing.
func TestHashMeterIdleHoldsNoSlots(t *testing.T) {
	if n := unsafe.Sizeof(hashMeter{}); n > 16 {
		t.Fatalf("an idle meter is %d bytes, want <= 16", n)
	}
	if n := unsafe.Sizeof(rateWindows{}); n > 376 {
		t.Fatalf("the slots are %d bytes, want <= 376", n)
	}
	now := time.Unix(1_800_000_000, 0)
	var idle hashMeter
	if r := idle.rates(now, now.Add(-time.Hour)); r != (Rates{}) || idle.w != nil {
		t.Fatalf("idle meter: %+v, slots allocated: %v", r, idle.w != nil)
	}
	ms := make([]hashMeter, 101) // AllocsPerRun runs once more than it is asked
	i := 0
	if a := testing.AllocsPerRun(100, func() {
		ms[i].add(now, 1)
		ms[i].add(now.Add(time.Minute), 1)
		i++
	}); a != 1 {
		t.Fatalf("first share allocates %v times, want 1", a)
	}
}

// TestHashMeterClockStepBack: a share stamped before the clock stepped back is counted in
// the windows that still reach it and dropped from those that do not; it never erases the
// newer shares in a slot it maps to.
func TestHashMeterClockStepBack(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).Truncate(time.Hour)
	since := t0.Add(-48 * time.Hour)
	var m hashMeter
	m.add(t0.Add(time.Hour), 1) // the newest share
	m.add(t0, 5)                // stamped an hour earlier: the 5 min and 1 h rings end before it
	now := t0.Add(time.Hour + time.Minute)
	r := m.rates(now, since)
	if want := 1 * twoTo32 / (9 * 30); !near(r.H5m, want) { // now is bucket-aligned
		t.Fatalf("5m: %v, want %v (the newest share only, not erased)", r.H5m, want)
	}
	if want := 1 * twoTo32 / (11*300 + 60); !near(r.H1h, want) {
		t.Fatalf("1h: %v, want %v", r.H1h, want)
	}
	if want := 6 * twoTo32 / (23*3600 + 60); !near(r.H24h, want) {
		t.Fatalf("24h: %v, want %v (both shares)", r.H24h, want)
	}
	// Within the 5 min ring, a late share is counted where it belongs.
	m.add(t0.Add(time.Hour+30*time.Second), 2)
	m.add(t0.Add(time.Hour-30*time.Second), 4) // one 30 s bucket before the newest share
	r = m.rates(now, since)
	if want := 7 * twoTo32 / (9 * 30); !near(r.H5m, want) {
		t.Fatalf("5m with a late share: %v, want %v", r.H5m, want)
	}
}
