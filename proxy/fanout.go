package proxy

import (
	"runtime"
	"sync"
)

// fanOutMin is the fewest channels worth one more fan-out worker: below it one goroutine has
// written them all before another would have started.
const fanOutMin = 256

// fanOut offers pj to every channel. For an idle V1 miner the offer is the write itself
// (writer_v1.go), so a new block costs one writev per miner; GOMAXPROCS workers share them,
// each over a contiguous part, the caller being one. It returns once every offer is made, so
// the offers of the caller's next publish never overtake these.
func fanOut(chans []*channel, pj *proxyJob, flags int) {
	n := min(runtime.GOMAXPROCS(0), len(chans)/fanOutMin)
	if n <= 1 {
		offerAll(chans, pj, flags)
		return
	}
	per := (len(chans) + n - 1) / n
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		part := chans[min(i*per, len(chans)):min((i+1)*per, len(chans))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			offerAll(part, pj, flags)
		}()
	}
	offerAll(chans[:per], pj, flags)
	wg.Wait()
}

// offerAll offers pj to each channel; one whose offer panics is logged and skipped, so one bad
// session never keeps a block from the rest.
func offerAll(chans []*channel, pj *proxyJob, flags int) {
	for i := 0; i < len(chans); {
		i = offerFrom(chans, i, pj, flags)
	}
}

func offerFrom(chans []*channel, i int, pj *proxyJob, flags int) (next int) {
	defer func() {
		if r := recover(); r != nil {
			chans[i].log.Error().Interface("panic", r).Str("job", pj.localID).Msg("offering a job to a miner crashed; skipped")
			next = i + 1
		}
	}()
	for ; i < len(chans); i++ {
		chans[i].offer(pj, flags)
	}
	return i
}
