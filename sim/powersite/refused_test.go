package powersite_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/sim/powersite"
)

// refusingRunner is the production Runner on a site where the first 20 miners it pauses
// never sleep: their firmware refuses every sleep (a wrong password), so they keep drawing,
// about twice margin_kw together.
type refusingRunner struct {
	*liveRunner
	mu      sync.Mutex
	refused map[string]bool
	sleeps  int // sleeps refused
}

const refusingMiners = 20

func (l *refusingRunner) Name() string { return "hashgate-runner-refused" }

func (l *refusingRunner) Start(fleet []policy.Miner, command func(context.Context, policy.Decision) error) {
	l.liveRunner.Start(fleet, func(ctx context.Context, d policy.Decision) error {
		if d.Action == policy.ActionPause {
			l.mu.Lock()
			if l.refused == nil {
				l.refused = map[string]bool{}
			}
			if len(l.refused) < refusingMiners {
				l.refused[d.MinerID] = true
			}
			refuse := l.refused[d.MinerID]
			if refuse {
				l.sleeps++
			}
			l.mu.Unlock()
			if refuse {
				return errors.New("firmware: authentication refused")
			}
		}
		return command(ctx, d)
	})
}

// TestRefusedSleepThroughRunner: 20 miners' firmware refuses every sleep for the whole run
// (their draw is about twice margin_kw). The Runner keeps retrying and sheds others in its
// place, so the site invariants hold as
// they do without the fault: never above the limit beyond the firmware delay, no flapping,
// never stuck, no over-shed.
func TestRefusedSleepThroughRunner(t *testing.T) {
	for _, sc := range powersite.Scenarios() {
		switch sc.Name {
		case "ai_spike", "ai_ramp", "ai_oscillation", "unmetered_step":
		default:
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &refusingRunner{liveRunner: &liveRunner{cfg: sc.Config}}
				r := powersite.Run(&sc, l)
				t.Logf("%+v (refused %d sleeps of %d miners)", r, l.sleeps, len(l.refused))
				if l.sleeps < 2 {
					t.Fatalf("%d sleeps refused: the scenario does not exercise a refused shed", l.sleeps)
				}
				checkLive(t, r)
			})
		})
	}
}
