package proxy

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSplitCreditPerShare is what a valid share costs while a hashrate split runs beyond
// the share path without one: splitter.mined, which takes the split's one lock, finds the
// miner's schedule and credits each member. 10,000 miners over two pools, every core
// crediting at once (-cpu 1,2 shows the lock's contention). It leaves out the rest of judging
// a share, which BenchmarkShareV1 and BenchmarkShareV2 measure.
//
//	go test -run '^$' -bench SplitCreditPerShare -cpu 1,2 ./proxy/
func BenchmarkSplitCreditPerShare(b *testing.B) {
	s := &splitter{}
	p0, p1 := &pool{}, &pool{}
	s.members = []splitMember{{pl: p0, share: 0.5}, {pl: p1, share: 0.5}}
	chans := make([]*channel, 10000)
	now := time.Now()
	for i := range chans {
		chans[i] = &channel{id: uint64(i + 1)}
		s.joinLocked(chans[i], now)
	}
	var start atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := start.Add(7919)
		for pb.Next() {
			i++
			pl := p0
			if i&1 == 1 {
				pl = p1
			}
			s.mined(chans[i%uint64(len(chans))], pl)
		}
	})
}
