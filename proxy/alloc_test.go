package proxy

import (
	"errors"
	"testing"
)

func TestAllocatorFillsThenOpensConnections(t *testing.T) {
	a := newAllocator(4, 2)
	seen := map[slot]bool{}
	for i := 0; i < 8; i++ {
		s, err := a.get()
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("slot %+v handed out twice", s)
		}
		seen[s] = true
		if want := i / 4; s.conn != want {
			t.Fatalf("miner %d on conn %d, want %d", i, s.conn, want)
		}
	}
	if _, err := a.get(); !errors.Is(err, errSpaceFull) {
		t.Fatalf("want errSpaceFull, got %v", err)
	}
	a.put(slot{conn: 1, prefix: 2})
	s, err := a.get()
	if err != nil || s != (slot{conn: 1, prefix: 2}) {
		t.Fatalf("freed slot not reused: %+v %v", s, err)
	}
	if a.conns() != 2 || !a.inUse(0) {
		t.Fatal("conns/inUse wrong")
	}
}
