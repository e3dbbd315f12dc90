package clock

import (
	"testing"
	"time"
)

func TestManualFiresInOrder(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	c.AfterFunc(1*time.Second, func() { got = append(got, 1) })
	stopped := c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	if !stopped.Stop() {
		t.Fatal("stop of a pending timer must report true")
	}
	tk := c.NewTicker(time.Second)
	c.Advance(2500 * time.Millisecond)
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("after 2.5s fired %v", got)
	}
	select {
	case at := <-tk.C():
		if !at.Equal(time.Unix(1, 0)) && !at.Equal(time.Unix(2, 0)) {
			t.Fatalf("tick at %v", at)
		}
	default:
		t.Fatal("ticker did not tick")
	}
	c.Advance(time.Second)
	if len(got) != 2 || got[1] != 3 {
		t.Fatalf("after 3.5s fired %v", got)
	}
	tk.Stop()
	if c.Pending() != 0 {
		t.Fatalf("pending %d", c.Pending())
	}
	if !c.Now().Equal(time.Unix(3, 500e6)) {
		t.Fatalf("now %v", c.Now())
	}
}

// TestOneShotFiresOnceOnTheClock: a OneShot fires once its duration passed on the clock it
// was given, with that clock's time, and a stopped one never fires.
func TestOneShotFiresOnceOnTheClock(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	o, stopped := NewOneShot(c, time.Second), NewOneShot(c, time.Second)
	if !stopped.Stop() {
		t.Fatal("a timer that had not fired reported it could not be stopped")
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-o.C():
		t.Fatal("fired before its duration")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-o.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("fired with %v", got)
	}
	c.Advance(time.Hour)
	select {
	case <-o.C():
		t.Fatal("fired twice")
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
}
