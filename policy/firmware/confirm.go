package firmware

import (
	"context"
	"fmt"
)

// confirm reads the miner back until ok accepts the status or the attempts
// run out. It is how every write proves itself.
func confirm(ctx context.Context, cfg *Config, what string, read func(context.Context) (Status, error), ok func(Status) bool) error {
	var last Status
	var lastErr error
	for i := 0; i < cfg.ConfirmAttempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return netErr(ctx.Err())
			case <-cfg.Clock.After(cfg.ConfirmInterval):
			}
		}
		st, err := read(ctx)
		if err != nil {
			lastErr = err
			if !Retriable(err) {
				return err
			}
			continue
		}
		if ok(st) {
			return nil
		}
		last, lastErr = st, nil
	}
	if lastErr != nil {
		return fmt.Errorf("%w: %s: read-back failed: %w", ErrNotConfirmed, what, lastErr)
	}
	return fmt.Errorf("%w: %s: still %s, %.0f W, target %.0f W", ErrNotConfirmed, what, last.State, last.PowerW, last.PowerTargetW)
}

func isSleeping(s Status) bool { return s.State == StateSleeping }
func isRunning(s Status) bool  { return s.State == StateRunning }
