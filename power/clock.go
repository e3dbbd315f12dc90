package power

import (
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
)

// policyClock and meterClock drive the Runner and the meter sources from the Controller's
// clock, so one clock.Manual moves all of them in a test.
type policyClock struct{ c clock.Clock }

func (p policyClock) Now() time.Time                        { return p.c.Now() }
func (p policyClock) NewTimer(d time.Duration) policy.Timer { return newOneShot(p.c, d) }

type meterClock struct{ c clock.Clock }

func (m meterClock) Now() time.Time                       { return m.c.Now() }
func (m meterClock) NewTimer(d time.Duration) meter.Timer { return newOneShot(m.c, d) }

// oneShot is a channel timer built on clock.AfterFunc.
type oneShot struct {
	ch chan time.Time
	t  clock.Timer
}

func newOneShot(c clock.Clock, d time.Duration) *oneShot {
	o := &oneShot{ch: make(chan time.Time, 1)}
	o.t = c.AfterFunc(d, func() {
		select {
		case o.ch <- c.Now():
		default:
		}
	})
	return o
}

func (o *oneShot) C() <-chan time.Time { return o.ch }
func (o *oneShot) Stop() bool          { return o.t.Stop() }
