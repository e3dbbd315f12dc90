package app

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// heldPair is one unlinked file opened twice, as the two processes of an upgrade hold it.
func heldPair(t *testing.T) (w, r *HeldGates, raw *os.File) {
	t.Helper()
	fw, err := os.CreateTemp(t.TempDir(), "held")
	if err != nil {
		t.Fatal(err)
	}
	fr, err := os.OpenFile(fw.Name(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = os.OpenFile(fw.Name(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(fw.Name())
	w, r = NewHeldGates(fw), NewHeldGates(fr)
	t.Cleanup(func() { w.Close(); r.Close(); raw.Close() })
	return w, r, raw
}

// TestHeldGatesFollow: the reader gets the last list published and whether it changed; an
// unchanged list is not written again; a line being written (no newline yet) is not read;
// garbage is an error naming the previous process.
func TestHeldGatesFollow(t *testing.T) {
	w, r, raw := heldPair(t)
	if got, changed, err := r.Read(); err != nil || changed || got != nil {
		t.Fatalf("empty file: %v %v %v", got, changed, err)
	}
	if err := w.Publish([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Publish([]string{"a", "c"}); err != nil {
		t.Fatal(err)
	}
	if got, changed, err := r.Read(); err != nil || !changed || !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after two lists: %v %v %v", got, changed, err)
	}
	st, _ := raw.Stat()
	if err := w.Publish([]string{"a", "c"}); err != nil {
		t.Fatal(err)
	}
	if st2, _ := raw.Stat(); st2.Size() != st.Size() {
		t.Fatalf("an unchanged list was written again: %d -> %d bytes", st.Size(), st2.Size())
	}
	if got, changed, err := r.Read(); err != nil || changed || !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("nothing new: %v %v %v", got, changed, err)
	}
	// Half a line: the writer is in the middle of it.
	if _, err := raw.WriteAt([]byte(`["a","c","d`), st.Size()); err != nil {
		t.Fatal(err)
	}
	if got, changed, err := r.Read(); err != nil || changed || !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("half a line: %v %v %v", got, changed, err)
	}
	if _, err := raw.WriteAt([]byte("\"]\n"), st.Size()+11); err != nil {
		t.Fatal(err)
	}
	if got, changed, err := r.Read(); err != nil || !changed || !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("line completed: %v %v %v", got, changed, err)
	}
	st, _ = raw.Stat()
	if _, err := raw.WriteAt([]byte("{not a list}\n"), st.Size()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Read(); err == nil {
		t.Fatal("garbage read as a list")
	}
}

// TestHeldGatesFull: past MaxHeldGates a list is refused with ErrHeldGatesFull and the reader
// keeps the last one written.
func TestHeldGatesFull(t *testing.T) {
	w, r, _ := heldPair(t)
	if err := w.Publish([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	w.end = MaxHeldGates - 4 // as if the drain had written that much
	if err := w.Publish([]string{"b"}); !errors.Is(err, ErrHeldGatesFull) {
		t.Fatalf("past the cap: %v", err)
	}
	if got, _, err := r.Read(); err != nil || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after a refused list: %v %v", got, err)
	}
}
