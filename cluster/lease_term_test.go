package cluster

import (
	"context"
	"testing"
	"time"
)

// The lease key shows the holder's term, not its latest renewal: Current reports exactly the
// epoch the holder commands under through any number of renewals, and the new one after a
// NewTerm.
func TestLeaseCurrentIsTheExactTerm(t *testing.T) {
	srv := startNATS(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	a := heldLease(t, srv.ClientURL(), "a", 30*time.Second, nil)
	term, _ := a.Held(time.Now())
	check := func(when string, want uint64) {
		t.Helper()
		holder, cur, err := a.Current(ctx)
		if err != nil || holder != "a" || cur != want {
			t.Fatalf("%s: current %q %d %v, want a %d", when, holder, cur, err, want)
		}
		if e, _ := a.Held(time.Now()); e != want {
			t.Fatalf("%s: the holder counts epoch %d, the key shows %d", when, e, want)
		}
	}
	check("acquired", term)
	for range 3 {
		if err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check("after three renewals", term)
	a.NewTerm()
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	next, _ := a.Held(time.Now())
	if next <= term {
		t.Fatalf("new term %d not above %d", next, term)
	}
	check("new term", next)
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	check("new term renewed", next)
}

// termOf reads a lease value: a value naming no term is its own revision's term; one naming
// a term of zero, a later revision than its own or not a number is not a term.
func TestLeaseTermOfValue(t *testing.T) {
	for _, tc := range []struct {
		value string
		rev   uint64
		want  uint64
		ok    bool
	}{
		{"a:0f", 7, 7, true},
		{"a:0f:5", 7, 5, true},
		{"a:0f:7", 7, 7, true},
		{"a:0f:8", 7, 0, false},
		{"a:0f:0", 7, 0, false},
		{"a:0f:x", 7, 0, false},
		{"a:0f:-1", 7, 0, false},
		{"a:0f:5:9", 7, 0, false},
		{"a", 7, 0, false},
		{"", 7, 0, false},
	} {
		got, ok := termOf([]byte(tc.value), tc.rev)
		if got != tc.want || ok != tc.ok {
			t.Errorf("termOf(%q, %d) = %d %v, want %d %v", tc.value, tc.rev, got, ok, tc.want, tc.ok)
		}
	}
}
