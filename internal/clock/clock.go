// Package clock lets hashgate's timers be driven by a test: code takes a Clock, production
// passes Real, and tests pass a Manual clock they advance by hand, so vardiff windows,
// keep-alives, failover backoff and dwell times are tested without sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time source hashgate components use.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, unless the returned Timer is stopped.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTicker delivers ticks every d on the returned Ticker's channel.
	NewTicker(d time.Duration) Ticker
}

// Timer is a stoppable one-shot timer.
type Timer interface {
	Stop() bool
}

// Ticker is a stoppable periodic timer.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
func (realClock) NewTicker(d time.Duration) Ticker          { return realTicker{time.NewTicker(d)} }
func (t realTicker) C() <-chan time.Time                    { return t.t.C }
func (t realTicker) Stop()                                  { t.t.Stop() }

type realTicker struct{ t *time.Ticker }

// Manual is a clock that only moves when Advance is called. Timers and tickers due by the new
// time fire in time order during Advance (timer callbacks run synchronously, in Advance's
// goroutine, which keeps tests deterministic).
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*manualTimer
}

// NewManual returns a manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

type manualTimer struct {
	c      *Manual
	at     time.Time
	seq    int
	f      func()
	period time.Duration
	ch     chan time.Time
	dead   bool
}

// Now returns the manual time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *Manual) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.add(t)
	return t
}

// NewTicker returns a ticker whose channel (capacity 1, ticks dropped when full, like
// time.Ticker) receives at every period boundary passed by Advance.
func (c *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), period: d, ch: make(chan time.Time, 1)}
	c.add(t)
	return manualTicker{t}
}

type manualTicker struct{ t *manualTimer }

func (m manualTicker) C() <-chan time.Time { return m.t.ch }
func (m manualTicker) Stop()               { m.t.Stop() }

func (c *Manual) add(t *manualTimer) {
	c.seq++
	t.seq = c.seq
	c.timers = append(c.timers, t)
}

// Advance moves the clock forward by d, firing everything that falls due.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool {
			if !c.timers[i].at.Equal(c.timers[j].at) {
				return c.timers[i].at.Before(c.timers[j].at)
			}
			return c.timers[i].seq < c.timers[j].seq
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			break
		}
		t := c.timers[0]
		c.now = t.at
		if t.period > 0 {
			t.at = t.at.Add(t.period)
			select {
			case t.ch <- c.now:
			default:
			}
			continue
		}
		c.timers = c.timers[1:]
		t.dead = true
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Pending is how many timers and tickers are scheduled.
func (c *Manual) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (t *manualTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			t.dead = true
			return true
		}
	}
	return false
}

var (
	_ Timer  = (*manualTimer)(nil)
	_ Ticker = manualTicker{}
)

// OneShot is a channel timer on any Clock, for the policy Runner, meter sources and firmware
// drivers, whose timer interfaces take a channel.
type OneShot struct {
	ch chan time.Time
	t  Timer
}

// NewOneShot sends c.Now() on C once d has passed on c.
func NewOneShot(c Clock, d time.Duration) *OneShot {
	o := &OneShot{ch: make(chan time.Time, 1)}
	o.t = c.AfterFunc(d, func() {
		select {
		case o.ch <- c.Now():
		default:
		}
	})
	return o
}

// C delivers the firing time.
func (o *OneShot) C() <-chan time.Time { return o.ch }

// Stop stops the timer; it reports whether it stopped it before it fired.
func (o *OneShot) Stop() bool { return o.t.Stop() }
