package cluster

import (
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

// policyClock drives the Runners from the Node's clock.
type policyClock struct{ c clock.Clock }

func (p policyClock) Now() time.Time                        { return p.c.Now() }
func (p policyClock) NewTimer(d time.Duration) policy.Timer { return clock.NewOneShot(p.c, d) }
