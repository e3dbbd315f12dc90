package main

import (
	"net"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/loadfleet"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// submitLine is a proxy's upstream submit for a miner with prefix and x under layout l.
func submitLine(t *testing.T, id int64, prefix, x []byte, nonce uint32) []byte {
	t.Helper()
	l := work.Layout{PrefixSize: len(prefix), MinerSize: len(x)}
	en2, err := l.UpstreamExtranonce2(nil, prefix, x, 8)
	if err != nil {
		t.Fatal(err)
	}
	line, err := sv1.AppendRequest(nil, sv1.IntID(id), &sv1.Submit{Worker: "bench.load.1", JobID: "2a", Extranonce2: en2, NTime: 0x66000000, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// A real TCP connection through the tapped listener, with lines cut at awkward places: the
// tap must match exactly the tracked submit and leave every byte for the reader.
func TestTapMatchesSubmitsAcrossReads(t *testing.T) {
	tracker := loadfleet.NewTracker()
	var clock int64 = 1000
	tap := &submitTap{now: func() int64 { return clock }, tracker: tracker}
	prefix, x := []byte{0x00, 0x07}, []byte{0x01, 0x00, 0x00, 0x00}
	tracker.Add(loadfleet.NewKey(42, prefix, x), 400)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tap.listener(l)
	defer tl.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := tl.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		lr := sv1.NewLineReader(c, 0)
		var lines []string
		for len(lines) < 4 {
			line, err := lr.ReadLine()
			if err != nil {
				break
			}
			lines = append(lines, string(line))
		}
		got <- lines
	}()
	c, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, _ := sv1.AppendRequest(nil, sv1.IntID(1), &sv1.Subscribe{UserAgent: "x"})
	tracked := submitLine(t, 7, prefix, x, 42)
	untracked := submitLine(t, 8, prefix, x, 43)
	notSubmit := []byte(`{"id":9,"method":"mining.authorize","params":["mining.submit","x"]}` + "\n")
	stream := append(append(append(append([]byte{}, sub...), tracked...), notSubmit...), untracked...)
	// Write in pieces that split lines mid-way, pausing so the reads really are separate.
	for _, cut := range [][2]int{{0, 10}, {10, len(sub) + 20}, {len(sub) + 20, len(sub) + len(tracked) + 3}, {len(sub) + len(tracked) + 3, len(stream)}} {
		if _, err := c.Write(stream[cut[0]:cut[1]]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // only to make separate reads likely; the test holds either way
	}
	lines := <-got
	if len(lines) != 4 {
		t.Fatalf("reader got %d lines, want 4", len(lines))
	}
	if tap.submits.Load() != 2 || tap.matched.Load() != 1 || tap.unmatched.Load() != 1 || tap.malformed.Load() != 0 {
		t.Fatalf("submits %d matched %d unmatched %d malformed %d", tap.submits.Load(), tap.matched.Load(), tap.unmatched.Load(), tap.malformed.Load())
	}
	if tap.hist.Count() != 1 || tap.hist.Max() != 600 {
		t.Fatalf("latency samples %d, max %v; want 1 sample of 600ns", tap.hist.Count(), tap.hist.Max())
	}
}

func TestTapDropsOverlongLine(t *testing.T) {
	tap := &submitTap{now: func() int64 { return 0 }, tracker: loadfleet.NewTracker()}
	c := &tapConn{tap: tap}
	long := make([]byte, tapMaxLine+10)
	for i := range long {
		long[i] = 'a'
	}
	copy(long, `"mining.submit"`)
	c.observe(long[:tapMaxLine/2], 1)
	c.observe(long[tapMaxLine/2:], 1)
	c.observe([]byte("\n"), 1)
	if tap.malformed.Load() != 0 || tap.submits.Load() != 0 || len(c.partial) != 0 {
		t.Fatalf("overlong line was parsed or kept (%d bytes held)", len(c.partial))
	}
	line := submitLine(t, 1, []byte{0, 1}, []byte{2, 3}, 5)
	c.observe(line, 1)
	if tap.submits.Load() != 1 {
		t.Fatal("the line after an overlong one was not seen")
	}
}
