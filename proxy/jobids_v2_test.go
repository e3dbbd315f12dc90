package proxy

import (
	"strconv"
	"testing"
)

// TestV2JobIDRing: a channel remembers the issuance of its last maxJobIDs job ids; an older id
// is known (a stale share, not an invalid one) but not resolved; id 0 and ids never issued are
// unknown, also across the ring's wrap.
func TestV2JobIDRing(t *testing.T) {
	vc := &v2Chan{}
	if _, known := vc.lookupJob(1); known {
		t.Fatal("id 1 known before any job")
	}
	const total = 3*maxJobIDs + 5
	for i := 1; i <= total; i++ {
		if id := vc.newJobID("j" + strconv.Itoa(i)); id != uint32(i) {
			t.Fatalf("job %d got id %d", i, id)
		}
	}
	if len(vc.jobs) != maxJobIDs {
		t.Fatalf("ring holds %d ids, want %d", len(vc.jobs), maxJobIDs)
	}
	for id := uint32(1); id <= total; id++ {
		got, known := vc.lookupJob(id)
		switch {
		case !known:
			t.Fatalf("id %d unknown", id)
		case id > total-maxJobIDs && got != "j"+strconv.Itoa(int(id)):
			t.Fatalf("id %d resolves to %q", id, got)
		case id <= total-maxJobIDs && got != "":
			t.Fatalf("forgotten id %d resolves to %q", id, got)
		}
	}
	for _, id := range []uint32{0, total + 1, 1 << 31} {
		if _, known := vc.lookupJob(id); known {
			t.Fatalf("id %d known", id)
		}
	}
}
