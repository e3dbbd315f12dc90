package power

import (
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
)

// policyClock, meterClock and firmwareClock drive the Runner, the meter sources and the
// firmware drivers' confirmation polling from the Controller's clock, so one clock.Manual
// moves all of them in a test. Each package asks only for the part of a clock it uses.
type policyClock struct{ c clock.Clock }

func (p policyClock) Now() time.Time                        { return p.c.Now() }
func (p policyClock) NewTimer(d time.Duration) policy.Timer { return clock.NewOneShot(p.c, d) }

type meterClock struct{ c clock.Clock }

func (m meterClock) Now() time.Time                       { return m.c.Now() }
func (m meterClock) NewTimer(d time.Duration) meter.Timer { return clock.NewOneShot(m.c, d) }

type firmwareClock struct{ c clock.Clock }

func (f firmwareClock) Now() time.Time                         { return f.c.Now() }
func (f firmwareClock) After(d time.Duration) <-chan time.Time { return clock.NewOneShot(f.c, d).C() }
