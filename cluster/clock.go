package cluster

import (
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// policyClock drives the Runners from the Node's clock.
type policyClock struct{ c clock.Clock }

func (p policyClock) Now() time.Time                        { return p.c.Now() }
func (p policyClock) NewTimer(d time.Duration) policy.Timer { return newOneShot(p.c, d) }

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
