package loadfleet

import (
	"testing"

	"github.com/hashgate/hashgate/stratum/work"
)

// The pool side sees prefix ‖ x ‖ zero pad as one upstream extranonce2; the fleet knows the
// prefix (its extranonce1) and x separately. Both must give the same key.
func TestKeyMatchesUpstreamExtranonce2(t *testing.T) {
	l := work.Layout{PrefixSize: 2, MinerSize: 2}
	prefix := l.Prefix(0x1234)
	x := []byte{0xab, 0xcd}
	for _, n := range []int{4, 6, 8, 16} {
		up, err := l.UpstreamExtranonce2(nil, prefix, x, n)
		if err != nil {
			t.Fatal(err)
		}
		if NewKey(7, up) != NewKey(7, prefix, x) {
			t.Errorf("upstream region of %d bytes: keys differ", n)
		}
	}
	if NewKey(7, prefix, x) == NewKey(8, prefix, x) {
		t.Error("nonce not part of the key")
	}
	if NewKey(7, prefix, x) == NewKey(7, l.Prefix(0x1235), x) {
		t.Error("prefix not part of the key")
	}
}

func TestTracker(t *testing.T) {
	tr := NewTracker()
	k1 := NewKey(1, []byte{1, 2, 3, 4})
	k2 := NewKey(2, []byte{1, 2, 3, 4})
	tr.Add(k1, 100)
	tr.Add(k2, 200)
	if at, ok := tr.Take(k1); !ok || at != 100 {
		t.Fatalf("take k1 = %d, %v", at, ok)
	}
	if _, ok := tr.Take(k1); ok {
		t.Fatal("k1 taken twice")
	}
	if n := tr.Expire(150); n != 0 {
		t.Fatalf("expired %d entries written at or after the cutoff", n)
	}
	if n := tr.Expire(201); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	st := tr.Stats()
	if st.Added != 2 || st.Taken != 1 || st.Missed != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}
