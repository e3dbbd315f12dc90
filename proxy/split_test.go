package proxy

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// splitPools are pools for the schedule alone: nothing here dials.
func splitPools(weights ...float64) []*pool {
	var out []*pool
	for i, w := range weights {
		pl := &pool{cfg: PoolConfig{Name: string(rune('a' + i)), Weight: w}}
		pl.setWeight(w)
		out = append(out, pl)
	}
	return out
}

// runSchedule steps every miner once a second for d, each mining one share a second, and
// returns each miner's seconds on each pool.
func runSchedule(s *splitter, chans []*channel, start time.Time, d time.Duration) []map[*pool]float64 {
	return runScheduleAt(s, chans, start, d, func(int, int) float64 { return 1 })
}

// runScheduleAt is runSchedule with miner i mining rate(i, second) shares in each second; it
// returns each miner's shares on each pool.
func runScheduleAt(s *splitter, chans []*channel, start time.Time, d time.Duration, rate func(i, sec int) float64) []map[*pool]float64 {
	mined := make([]map[*pool]float64, len(chans))
	on := make([]*pool, len(chans))
	s.mu.Lock()
	for i, c := range chans {
		mined[i] = map[*pool]float64{}
		on[i] = s.stepLocked(s.joinLocked(c, start), start)
	}
	s.mu.Unlock()
	for sec := 1; sec <= int(d/time.Second); sec++ {
		now := start.Add(time.Duration(sec) * time.Second)
		for i, c := range chans {
			// The second just ended was mined on the pool given at its start.
			w := rate(i, sec)
			mined[i][on[i]] += w
			for range int(w) {
				s.mined(c, on[i])
			}
		}
		s.mu.Lock()
		for i, c := range chans {
			on[i] = s.stepLocked(s.miners[c], now)
		}
		s.mu.Unlock()
	}
	return mined
}

// TestSplitScheduleHoldsEachMinersWeights: every miner's own time split stays within one
// slice of the weights over 10 minutes, for 30/70 and for three pools, whatever its phase;
// a miner's first pool and its slice boundaries are spread over the fleet.
func TestSplitScheduleHoldsEachMinersWeights(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	for _, weights := range [][]float64{{30, 70}, {1, 1, 1}, {5, 3, 2}} {
		pools := splitPools(weights...)
		var s splitter
		if !s.setMembers(pools) || !s.running() {
			t.Fatalf("%v: split not running", weights)
		}
		var chans []*channel
		for id := uint64(1); id <= 50; id++ {
			chans = append(chans, &channel{id: id})
		}
		const window = 10 * time.Minute
		spent := runSchedule(&s, chans, start, window)
		var total float64
		for _, w := range weights {
			total += w
		}
		bound := splitSlice.Seconds() / window.Seconds()
		fleet := map[*pool]float64{}
		for i := range chans {
			for j, pl := range pools {
				frac := spent[i][pl] / window.Seconds()
				fleet[pl] += spent[i][pl]
				if want := weights[j] / total; math.Abs(frac-want) > bound {
					t.Errorf("%v: miner %d spent %.3f on %s, want %.3f ± %.3f", weights, i, frac, pl.cfg.Name, want, bound)
				}
			}
		}
		for j, pl := range pools {
			frac := fleet[pl] / (window.Seconds() * float64(len(chans)))
			if want := weights[j] / total; math.Abs(frac-want) > 0.005 {
				t.Errorf("%v: fleet spent %.4f on %s, want %.4f", weights, frac, pl.cfg.Name, want)
			}
		}
	}
}

// TestSplitScheduleSpreadsMiners: the fleet does not move at once and starts split by the
// weights: boundaries fall on different seconds and the first pools follow the weights.
func TestSplitScheduleSpreadsMiners(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	pools := splitPools(30, 70)
	var s splitter
	s.setMembers(pools)
	firstOnA, boundaries := 0, map[time.Duration]int{}
	s.mu.Lock()
	for id := uint64(1); id <= 1000; id++ {
		m := s.joinLocked(&channel{id: id}, start)
		if m.pool == pools[0] {
			firstOnA++
		}
		boundaries[m.next.Sub(start).Truncate(time.Second)]++
	}
	s.mu.Unlock()
	if firstOnA < 270 || firstOnA > 330 {
		t.Fatalf("%d of 1000 miners start on the 30 %% pool", firstOnA)
	}
	if len(boundaries) != int(splitSlice/time.Second) {
		t.Fatalf("first boundaries fall on %d distinct seconds of a %v slice: %v", len(boundaries), splitSlice, boundaries)
	}
	for sec, n := range boundaries {
		if n > 1000/len(boundaries)*3/2 {
			t.Fatalf("%d miners switch in second %v", n, sec)
		}
	}
}

// TestSplitScheduleMembershipChanges: a pool that leaves takes no miner from the next step
// (mid-slice), the split stops below two pools, and a pool that left is marked to rejoin
// only after the failback delay.
func TestSplitScheduleMembershipChanges(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	pools := splitPools(30, 70, 50)
	var s splitter
	s.setMembers(pools)
	var chans []*channel
	for id := uint64(1); id <= 30; id++ {
		chans = append(chans, &channel{id: id})
	}
	runSchedule(&s, chans, start, time.Minute)
	if s.setMembers(pools) {
		t.Fatal("the same members reported as a change")
	}
	if !s.setMembers([]*pool{pools[0], pools[2]}) {
		t.Fatal("a pool leaving is no change")
	}
	if !s.rejoining(pools[1]) || s.rejoining(pools[0]) {
		t.Fatal("the pool that left is not marked to rejoin later")
	}
	now := start.Add(time.Minute + 500*time.Millisecond) // mid-slice for most miners
	s.mu.Lock()
	for _, c := range chans {
		if pl := s.stepLocked(s.miners[c], now); pl == pools[1] {
			t.Fatalf("miner %d still given the pool that left", c.id)
		}
	}
	s.mu.Unlock()
	if s.has(pools[1]) || !s.has(pools[2]) {
		t.Fatal("membership not as set")
	}
	onA := len(s.assigned(append([]*channel(nil), chans...), pools[0], pools[0]))
	onC := len(s.assigned(append([]*channel(nil), chans...), pools[2], pools[0]))
	if onA+onC != len(chans) || onA == 0 || onC == 0 || len(s.assigned(append([]*channel(nil), chans...), pools[1], pools[0])) != 0 {
		t.Fatalf("jobs offered by assignment: %d to a, %d to c of %d", onA, onC, len(chans))
	}
	s.setMembers([]*pool{pools[0]})
	if s.running() || s.has(pools[0]) || s.join(&channel{id: 99}, now) != nil {
		t.Fatal("a split of one pool runs")
	}
	// A publish that raced the end of the split: the active pool's job reaches everyone, a
	// job of a pool that left reaches no one.
	if len(s.assigned(append([]*channel(nil), chans...), pools[0], pools[0])) != len(chans) || len(s.assigned(append([]*channel(nil), chans...), pools[2], pools[0])) != 0 {
		t.Fatal("a late publish after the split ended went to the wrong miners")
	}
	s.setMembers(pools)
	if s.rejoining(pools[1]) || !s.running() {
		t.Fatal("a pool back in the split is still marked to rejoin")
	}
}

// TestPoolWeightValidated: a weight that cannot split time is refused naming the pool, in
// the config file and in a pool set edited at run time alike.
func TestPoolWeightValidated(t *testing.T) {
	for _, w := range []float64{-1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		c := testConfig("127.0.0.1:1", "127.0.0.1:2")
		c.Pools[1].Weight = w
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "pool[1].weight:") {
			t.Errorf("weight %v: Validate said %v", w, err)
		}
		if err := ValidatePools(c.Pools); !errors.Is(err, ErrInvalidPool) || !strings.Contains(err.Error(), "pool[1].weight:") {
			t.Errorf("weight %v: ValidatePools said %v", w, err)
		}
	}
	c := testConfig("127.0.0.1:1", "127.0.0.1:2")
	c.Pools[0].Weight, c.Pools[1].Weight = 0, 0.25
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSplitSharesOfHugeWeights: weights near the float64 limit, valid in the file and in an
// edit, split as their ratio (their sum would overflow to +Inf and every share to 0).
func TestSplitSharesOfHugeWeights(t *testing.T) {
	pools := splitPools(math.MaxFloat64, math.MaxFloat64/2, math.MaxFloat64/4)
	var s splitter
	if !s.setMembers(pools) {
		t.Fatal("no split")
	}
	want := []float64{4.0 / 7, 2.0 / 7, 1.0 / 7}
	for i, m := range s.members {
		if math.Abs(m.share-want[i]) > 1e-12 {
			t.Fatalf("share %d: %v, want %v", i, m.share, want[i])
		}
	}
}

// TestSplitScheduleHoldsWorkWhateverTheRate: what the pools see is work, and a miner's rate
// is not steady (starved of CPU it stalls, then races to catch up; throttled, it slows). Three
// miners whose shares come in bursts (a fifth of their seconds none, a tenth six) over 300 s:
// the fleet's shares split by the weights within 1 point, and each miner's within one
// slice's work of it. Credits in seconds left the fleet up to 3.3 points off on these seeds,
// and each miner's credits in work without the fleet's up to 1.6.
func TestSplitScheduleHoldsWorkWhateverTheRate(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	const secs = 300
	for _, weights := range [][]float64{{1, 1, 2}, {30, 70}} {
		for seed := uint64(1); seed <= 5; seed++ {
			pools := splitPools(weights...)
			var s splitter
			s.setMembers(pools)
			var chans []*channel
			for id := uint64(1); id <= 3; id++ {
				chans = append(chans, &channel{id: id})
			}
			rng := rand.New(rand.NewPCG(seed, 7))
			rates := make([][]float64, len(chans))
			for i := range rates {
				for range secs + 1 {
					r := 1.0
					switch x := rng.Float64(); {
					case x < 0.2:
						r = 0
					case x < 0.3:
						r = 6
					}
					rates[i] = append(rates[i], r)
				}
			}
			mined := runScheduleAt(&s, chans, start, secs*time.Second, func(i, sec int) float64 { return rates[i][sec] })
			var total float64
			for _, w := range weights {
				total += w
			}
			fleet, all := make([]float64, len(pools)), 0.0
			for i := range chans {
				var own float64
				for _, pl := range pools {
					own += mined[i][pl]
				}
				for j, pl := range pools {
					fleet[j] += mined[i][pl]
					all += mined[i][pl]
					// One slice of this miner's work at its mean rate, plus a burst.
					if dev := math.Abs(mined[i][pl] - own*weights[j]/total); dev > own*splitSlice.Seconds()/secs+6 {
						t.Errorf("%v seed %d: miner %d mined %.0f of %.0f on %s, want %.0f", weights, seed, i, mined[i][pl], own, pl.cfg.Name, own*weights[j]/total)
					}
				}
			}
			for j, pl := range pools {
				if got, want := fleet[j]/all, weights[j]/total; math.Abs(got-want) > 0.01 {
					t.Errorf("%v seed %d: the fleet mined %.2f %% on %s, want %.0f %%", weights, seed, 100*got, pl.cfg.Name, 100*want)
				}
			}
		}
	}
}
