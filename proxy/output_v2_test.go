package proxy

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv2"
)

// proxyGoroutines counts the goroutines whose stack passes through fn.
func proxyGoroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// v2Proxy starts a proxy with cfg and its SV2 listener with the default handshake limits.
func v2Proxy(t *testing.T, cfg Config) (*Proxy, string, v2Keys) {
	t.Helper()
	px, _ := startProxy(t, cfg, Options{})
	k := newV2Keys(t)
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	return px, a.String(), k
}

// openRawChannel opens an extended channel on a raw client and returns it with its first job.
func openRawChannel(t *testing.T, r *rawV2, user string) (*sv2.OpenExtendedMiningChannelSuccess, *sv2.NewExtendedMiningJob, *sv2.SetNewPrevHash) {
	t.Helper()
	r.setup(0)
	r.send(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: user, NominalHashRate: 1e6, MaxTarget: allOnes(), MinExtranonceSize: 2})
	ok := expect[*sv2.OpenExtendedMiningChannelSuccess](r)
	job := expect[*sv2.NewExtendedMiningJob](r)
	snp := expect[*sv2.SetNewPrevHash](r)
	return ok, job, snp
}

// TestV2IdleMinerHasOnlyItsReader: an SV2 connection with an open channel and its job
// written is served by one goroutine, its reader; nothing else waits for it. A new block
// reaches it all the same, written by whoever publishes it.
func TestV2IdleMinerHasOnlyItsReader(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr, k := v2Proxy(t, testConfig(paddr))
	honest := startMiners2(t, addr, k.authority.PublicKey(), 1, "honest", nil)[0]
	eventually(t, "the honest miner mining", func() bool { return honest.Stats.Accepted.Load() > 0 })
	var raws []*rawV2
	for i := range 4 {
		r := dialRawV2(t, addr, k.authority.PublicKey())
		openRawChannel(t, r, "raw.idle"+string(rune('a'+i)))
		raws = append(raws, r)
	}
	eventually(t, "five SV2 readers and no flusher", func() bool {
		return proxyGoroutines("proxy.(*Proxy).serveMinerV2") == 5 && proxyGoroutines("proxy.(*v2Conn).flusher") == 0
	})
	if n := proxyGoroutines("proxy.(*v2Conn)."); n != 5 {
		t.Fatalf("%d goroutines in v2Conn code for 5 idle connections", n)
	}
	// A retarget re-sends work to every channel through the same direct writes.
	px.mu.Lock()
	var idle []*channel
	for _, c := range px.channels {
		if c.proto == "sv2" && strings.HasPrefix(c.workerName(), "raw.idle") {
			idle = append(idle, c)
		}
	}
	px.mu.Unlock()
	if len(idle) != 4 {
		t.Fatalf("%d idle raw channels, want 4", len(idle))
	}
	for _, c := range idle {
		c.resend()
	}
	for i, r := range raws {
		if j := expect[*sv2.NewExtendedMiningJob](r); j.ChannelID == 0 {
			t.Fatalf("raw %d: job without a channel", i)
		}
	}
	stillMining(t, honest)
}

// TestV2BurstAnsweredTogether: shares that arrive together are acknowledged together, by
// SubmitShares.Success frames that count every one of them and end at the last sequence
// number; a rejected one in the middle gets its error.
func TestV2BurstAnsweredTogether(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	// Every hash meets this difficulty (its target is the largest), and almost none the pool's:
	// the shares are judged here and acknowledged at once.
	cfg.Difficulty = DifficultyConfig{Initial: 1e-10, Min: 1e-10, Max: 1e-10, SharesPerMinute: 6000, RetargetEvery: Duration(time.Hour)}
	_, addr, k := v2Proxy(t, cfg)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	ok, job, snp := openRawChannel(t, r, "raw.burst")
	var burst []byte
	const n = 30
	for i := 1; i <= n; i++ {
		x := make([]byte, ok.ExtranonceSize)
		x[0] = byte(i)
		jobID := job.JobID
		if i == 10 {
			jobID += 1000 // unknown: refused alone
		}
		burst = append(burst, mustFrame(t, &sv2.SubmitSharesExtended{ChannelID: ok.ChannelID, SequenceNumber: uint32(i),
			JobID: jobID, NTime: snp.MinNTime, Nonce: uint32(i), Version: job.Version, Extranonce: x})...)
	}
	if _, err := r.nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	accepted, frames, errs := uint32(0), 0, 0
	for accepted+uint32(errs) < n {
		m, err := r.recv()
		if err != nil {
			t.Fatalf("after %d accepted, %d errors: %v", accepted, errs, err)
		}
		switch m := m.(type) {
		case *sv2.SubmitSharesSuccess:
			frames++
			accepted += m.NewSubmitsAcceptedCount
			if accepted == n-1 && m.LastSequenceNumber != n {
				t.Fatalf("last Success ends at %d, want %d", m.LastSequenceNumber, n)
			}
		case *sv2.SubmitSharesError:
			if m.SequenceNumber != 10 || m.ErrorCode != "invalid-job-id" {
				t.Fatalf("error %+v", m)
			}
			errs++
		}
	}
	if accepted != n-1 || errs != 1 {
		t.Fatalf("accepted %d and %d errors, want %d and 1", accepted, errs, n-1)
	}
	// The burst comes in one or a few reads; each read's shares are answered together.
	if frames >= n/2 {
		t.Fatalf("%d Success frames for %d shares sent together", frames, n-1)
	}
}

// sv2Channel returns the proxy's channel for a worker name.
func sv2Channel(px *Proxy, worker string) *channel {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.channels {
		if c.proto == "sv2" && c.workerName() == worker {
			return c
		}
	}
	return nil
}

// TestV2FrozenMinerDoesNotStallOthers: a device that stops reading while work keeps coming
// fills its socket; its frames then wait for one flusher of its own, new work for the other
// devices is written at once all the same, and the frozen one is dropped after write_timeout.
func TestV2FrozenMinerDoesNotStallOthers(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.WriteTimeout = Duration(2 * time.Second)
	px, addr, k := v2Proxy(t, cfg)
	frozen := dialRawV2(t, addr, k.authority.PublicKey())
	frozen.raw.(*net.TCPConn).SetReadBuffer(4096) // a device that reads nothing fills sooner
	openRawChannel(t, frozen, "raw.frozen")
	other := dialRawV2(t, addr, k.authority.PublicKey())
	openRawChannel(t, other, "raw.other")
	fc, oc := sv2Channel(px, "raw.frozen"), sv2Channel(px, "raw.other")
	if fc == nil || oc == nil {
		t.Fatal("channels not found")
	}
	// Each clean re-send is a job of ~200 bytes on the wire; the frozen device reads none.
	// Loopback's receive buffer takes megabytes before the socket refuses bytes: send until
	// a flusher runs (bounded at ~40 MB of jobs, far beyond any socket buffer).
	for i := 0; proxyGoroutines("proxy.(*v2Conn).flusher") == 0 && sv2Channel(px, "raw.frozen") != nil; i++ {
		if i > 200000 {
			t.Fatal("200,000 jobs to a device that reads nothing never filled its socket")
		}
		fc.resend()
	}
	for i := range 3 {
		oc.resend()
		if j := expect[*sv2.NewExtendedMiningJob](other); j.ChannelID == 0 {
			t.Fatalf("re-send %d: job without a channel", i)
		}
	}
	// A flusher that started may still finish: the kernel can grow the buffers and take what
	// the socket refused for a moment. Keep the work coming, as a pool's would, until the
	// device's buffers are full and it is dropped (its queue full, or its write past
	// write_timeout); a fixed count of re-sends could all be absorbed by one flusher's write.
	eventually(t, "the frozen device dropped", func() bool {
		for range 2000 {
			if sv2Channel(px, "raw.frozen") == nil {
				return true
			}
			fc.resend()
		}
		return false
	})
	eventually(t, "no flusher left", func() bool { return proxyGoroutines("proxy.(*v2Conn).flusher") == 0 })
	oc.resend()
	expect[*sv2.NewExtendedMiningJob](other)
}
