package proxy

import (
	"strconv"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv2"
)

// TestV2ShareCountedAtIssuedDifficulty: after a retarget, a share on a job issued before it is
// acknowledged (new_shares_sum) at the difficulty that job was issued at, not the channel's new
// one; a share on the new job at the new one.
func TestV2ShareCountedAtIssuedDifficulty(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Difficulty = DifficultyConfig{Initial: 1e-10, Min: 1e-12, Max: 1e6, SharesPerMinute: 60, RetargetEvery: Duration(time.Hour)}
	px, addr, k := v2Proxy(t, cfg)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	ok, _, _ := openRawChannel(t, r, "raw.sum")
	c := sv2Channel(px, "raw.sum")
	if c == nil {
		t.Fatal("no channel")
	}
	c.mu.Lock()
	first, d1 := c.lastSent.localID, c.sentDiff
	c.mu.Unlock()
	// The device says it hashes faster than the first difficulty assumed: the channel's difficulty moves up at once.
	r.send(&sv2.UpdateChannel{ChannelID: ok.ChannelID, NominalHashRate: 1000, MaximumTarget: allOnes()})
	var last string
	var d2 float64
	eventually(t, "the retarget to be issued", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		d2 = c.sentDiff
		if d2 == d1 || c.resendSeq == 0 && c.lastSent.localID == first {
			return false
		}
		last = c.lastSent.localID
		if c.lastSent.localID == first {
			last += "." + strconv.FormatUint(uint64(c.resendSeq), 10) // the same work re-issued
		}
		return true
	})
	if got := c.issuedDiff(first); got != d1 {
		t.Fatalf("share on the job issued before the retarget counted at %g, want %g (the channel is at %g)", got, d1, d2)
	}
	if got := c.issuedDiff(last); got != d2 {
		t.Fatalf("share on the new job counted at %g, want %g", got, d2)
	}
}
