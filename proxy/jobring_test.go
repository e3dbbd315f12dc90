package proxy

import (
	"reflect"
	"strconv"
	"testing"
	"unsafe"
)

// nextWork is pj's work again as another pool job (a fresh *work.Job, as a new notify
// brings), issued without retiring the older ones.
func nextWork(t *testing.T, pj *proxyJob, seq uint64) *proxyJob {
	t.Helper()
	j := *pj.job
	j.ID = strconv.FormatUint(seq, 10)
	j.NTime += uint32(seq)
	if err := j.Prepare(); err != nil {
		t.Fatal(err)
	}
	return &proxyJob{localID: strconv.FormatUint(seq, 16), seq: seq, job: &j, pool: pj.pool,
		coinb1: pj.coinb1, coinb2: pj.coinb2, poolDif: pj.poolDif, ntime: j.NTime}
}

// share submits one share for job id with the given nonce and returns its answer code.
func share(c *channel, pj *proxyJob, id string, nonce uint32) int {
	code := -1
	c.submit(&shareReq{jobID: id, x: []byte{1, 2, 3, 4}, ntime: pj.job.NTime, nonce: nonce},
		func(got int, _ string) { code = got })
	return code
}

// TestJobRingKeepsTheNewest: a miner can submit for the last 16 jobs it was sent and no
// older; the records are a ring that never holds more than 16, and a retiring job empties it.
func TestJobRingKeepsTheNewest(t *testing.T) {
	_, c, first, _ := benchChannel(t, "sv1")
	jobs := []*proxyJob{first}
	for seq := uint64(2); seq <= 20; seq++ {
		pj := nextWork(t, first, seq)
		if _, ok := c.issue(pj, offerNormal); !ok {
			t.Fatalf("issue %d failed", seq)
		}
		jobs = append(jobs, pj)
	}
	if n, cp := len(c.jobs), cap(c.jobs); n != maxJobsPerChannel || cp != maxJobsPerChannel {
		t.Fatalf("ring holds %d records in %d, want %d", n, cp, maxJobsPerChannel)
	}
	for i, pj := range jobs {
		code := share(c, pj, pj.localID, 7)
		if want := 0; i < len(jobs)-maxJobsPerChannel {
			want = codeStale
			if code != want {
				t.Fatalf("job %d of 20 (evicted): code %d, want %d", i+1, code, want)
			}
		} else if code != want {
			t.Fatalf("job %d of 20 (in the ring): code %d, want %d", i+1, code, want)
		}
	}
	// A new block: only its job is left.
	blk := nextWork(t, first, 21)
	blk.retire = true
	if _, ok := c.issue(blk, offerRetire); !ok {
		t.Fatal("issue of the block's job failed")
	}
	if len(c.jobs) != 1 {
		t.Fatalf("after a retiring job the ring holds %d records, want 1", len(c.jobs))
	}
	if code := share(c, jobs[19], jobs[19].localID, 8); code != codeStale {
		t.Fatalf("share for a job the block retired: code %d, want %d", code, codeStale)
	}
	if code := share(c, blk, blk.localID, 8); code != 0 {
		t.Fatalf("share for the block's job: code %d", code)
	}
	if got := c.counters.Get(ResultStale); got != 5 {
		t.Fatalf("stale counted %d times, want 5", got)
	}
}

// TestJobRingForgedIDs: job ids a miner made up, or bent from real ones, are stale, never
// another job's record; the newest record of an id sent twice is the one that judges.
func TestJobRingForgedIDs(t *testing.T) {
	_, c, pj, first := benchChannel(t, "sv1")
	again, _ := c.issue(pj, offerClean) // the same work again: "1.1"
	third, _ := c.issue(pj, offerClean) // "1.2"
	if first.id != "1" || again.id != "1.1" || third.id != "1.2" {
		t.Fatalf("ids %q %q %q", first.id, again.id, third.id)
	}
	for _, id := range []string{"", "1.", "1.3", "1.02", "1.1.1", "11", ".1", "1.x", "01", "1.4294967297", "2"} {
		if code := share(c, pj, id, 1); code != codeStale {
			t.Fatalf("forged job id %q: code %d, want %d", id, code, codeStale)
		}
	}
	for i, id := range []string{"1", "1.1", "1.2"} {
		if code := share(c, pj, id, uint32(10+i)); code != 0 {
			t.Fatalf("job id %q: code %d", id, code)
		}
	}
	// Other work in between, then pj once more under its own id with another difficulty:
	// shares for "1" are judged by the newer record.
	c.issue(nextWork(t, pj, 2), offerNormal)
	c.mu.Lock()
	c.vd.diff = 2e-11
	c.mu.Unlock()
	if is, _ := c.issue(pj, offerNormal); is.id != "1" || is.diff != 2e-11 {
		t.Fatalf("re-sent as %q at %v", is.id, is.diff)
	}
	c.mu.Lock()
	rec, ok := c.lookupJob("1")
	c.mu.Unlock()
	if !ok || rec.diff != 2e-11 {
		t.Fatalf("id 1 judged by a record at %v (found %v), want the newest at 2e-11", rec.diff, ok)
	}
}

// TestJobRingDuplicateSetsAreLazy: a job nobody submitted for has no duplicate set; the
// first share makes one that every record of the same work shares, so the same share under
// any of its ids is a duplicate, and a share for other work is not.
func TestJobRingDuplicateSetsAreLazy(t *testing.T) {
	_, c, pj, first := benchChannel(t, "sv1")
	again, _ := c.issue(pj, offerClean)
	other := nextWork(t, pj, 2)
	c.issue(other, offerNormal)
	for i := range c.jobs {
		if c.jobs[i].dups != nil {
			t.Fatalf("record %d has a duplicate set before any share", i)
		}
	}
	if c.scratch != nil || c.rate.w != nil {
		t.Fatal("share scratch or hashrate slots allocated before any share")
	}
	if code := share(c, pj, again.id, 99); code != 0 {
		t.Fatalf("first share: %d", code)
	}
	if code := share(c, pj, first.id, 99); code != codeDuplicate {
		t.Fatalf("the same share under the first id: code %d, want %d", code, codeDuplicate)
	}
	if code := share(c, other, other.localID, 99); code != 0 {
		t.Fatalf("the same nonce on other work: code %d", code)
	}
	set := func(i int) unsafe.Pointer { return reflect.ValueOf(c.jobs[i].dups).UnsafePointer() }
	if set(0) == nil || set(0) != set(1) || set(2) == nil || set(2) == set(0) {
		t.Fatalf("sets %p %p %p: want the first two shared, the third its own", set(0), set(1), set(2))
	}
	if len(c.jobs[0].dups) != 1 || len(c.jobs[2].dups) != 1 {
		t.Fatalf("set sizes %d, %d, want 1 each", len(c.jobs[0].dups), len(c.jobs[2].dups))
	}
	if c.scratch == nil || c.rate.w == nil {
		t.Fatal("no share scratch or hashrate slots after accepted shares")
	}
}

// TestChannelSizes: the per-miner records stay within their size classes (issue 10: 10 KiB
// per SV2 channel, 6 KiB per idle V1 miner in all).
func TestChannelSizes(t *testing.T) {
	if n := unsafe.Sizeof(issued{}); n > 64 {
		t.Fatalf("a job record is %d bytes, want <= 64", n)
	}
	if n := unsafe.Sizeof(channel{}); n > 576 {
		t.Fatalf("channel is %d bytes, want <= 576 (a size class)", n)
	}
}
