package proxy

import "testing"

// TestSuccessSequenceNeverGoesBackwards: a forwarded share's verdict can arrive after later
// shares were acknowledged; the batch must still report the highest sequence number (mod 2^32).
func TestSuccessSequenceNeverGoesBackwards(t *testing.T) {
	// holding: the acknowledgements stay pending, as while the reader answers a burst.
	s := &v2Conn{holding: true}
	vc := &v2Chan{id: 7}
	for _, c := range []struct{ seq, want uint32 }{
		{10, 10}, {11, 11}, {5, 11}, {12, 12},
		{0xfffffffe, 12}, // far behind (mod 2^32): ignored
		{0x8000000d, 12}, // more than half the space ahead: behind
	} {
		s.accepted(vc, c.seq, 1)
		if got := s.okFor(vc).last; got != c.want {
			t.Fatalf("after seq %d: last %d, want %d", c.seq, got, c.want)
		}
	}
	// Wraparound moves forward.
	vc2 := &v2Chan{id: 8}
	s.accepted(vc2, 0xffffffff, 1)
	s.accepted(vc2, 2, 1)
	if got := s.okFor(vc2).last; got != 2 {
		t.Fatalf("wraparound: last %d, want 2", got)
	}
}
