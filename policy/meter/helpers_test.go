package meter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/meter"
)

func zerologNop() zerolog.Logger { return zerolog.Nop() }

// hangGuard bounds how long a test waits for a reading before failing instead of hanging;
// it is never a performance assertion.
const hangGuard = 20 * time.Second

// run starts src and returns its reading channel; the source stops when the test ends.
func run(t *testing.T, src meter.Source) <-chan meter.Reading {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan meter.Reading, 64)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	return out
}

// waitFor returns the first reading satisfying ok.
func waitFor(t *testing.T, out <-chan meter.Reading, what string, ok func(meter.Reading) bool) meter.Reading {
	t.Helper()
	timer := time.NewTimer(hangGuard)
	defer timer.Stop()
	var last meter.Reading
	for {
		select {
		case r := <-out:
			if ok(r) {
				return r
			}
			last = r
		case <-timer.C:
			t.Fatalf("no reading %s; last: %+v", what, last)
		}
	}
}

func good(v float64) func(meter.Reading) bool {
	return func(r meter.Reading) bool { return r.OK() && r.Value == v }
}

func quality(q meter.Quality, target error) func(meter.Reading) bool {
	return func(r meter.Reading) bool {
		return r.Quality == q && (target == nil || errorsIs(r.Err, target))
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// pacer paces retry loops against real peers (a publish that may precede a subscription).
func pacer() <-chan time.Time { return time.After(50 * time.Millisecond) }
