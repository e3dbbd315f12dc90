package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy/firmware"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/store"
)

// The miner detail and the firmware bulk actions: the power controller's latest telemetry and
// operator commands, the store's share history.
var (
	_ console.MinerReader    = backend{}
	_ console.MinerCommander = backend{}
)

func (b backend) MinerHardware(worker string) (console.MinerHardware, bool) {
	mt, ok := b.a.Power.MinerTelemetry(worker)
	if !ok {
		return console.MinerHardware{}, false
	}
	h := console.NewMinerHardware(mt.Firmware, mt.Controllable, mt.Status, mt.StatusAt, mt.PolledAt, mt.PollErr, mt.ProfileW)
	h.Unvouched = mt.Unvouched
	return h, true
}

func (b backend) WorkerHashrate(ctx context.Context, worker string, from, to time.Time, step time.Duration) ([]store.HashratePoint, error) {
	if b.a.Store == nil {
		return nil, fmt.Errorf("%w: no store", console.ErrUnavailable)
	}
	return b.a.Store.WorkerHashrate(ctx, worker, from, to, step)
}

func (b backend) MinerCommand(ctx context.Context, actor string, cmd console.MinerCommand, workers []string) ([]console.MinerCommandResult, error) {
	var res []power.OperatorResult
	switch cmd.Kind {
	case "reboot":
		res = b.a.Power.Reboot(ctx, actor, workers)
	case "locate":
		res = b.a.Power.Locate(ctx, actor, workers, cmd.On)
	case "power_profile":
		var err error
		if res, err = b.a.Power.SetPowerProfile(ctx, actor, workers, cmd.Watts); err != nil {
			return nil, fmt.Errorf("%w: %w", console.ErrInvalid, err)
		}
	default:
		return nil, fmt.Errorf("%w: firmware command %q", console.ErrInvalid, cmd.Kind)
	}
	out := make([]console.MinerCommandResult, len(res))
	for i, r := range res {
		out[i] = console.MinerCommandResult{Worker: r.Worker, Deferred: r.Deferred}
		if r.Err != nil {
			out[i].Error = commandErrorText(r.Err)
		}
	}
	return out, nil
}

// commandErrorText is one worker's failure as the console shows it: what went wrong and what
// to do, never the miner's own words (its reply may be anything).
func commandErrorText(err error) string {
	switch {
	case errors.Is(err, power.ErrNotFound):
		return "not found"
	case errors.Is(err, power.ErrCredentialsWithheld):
		return "credentials withheld: its address is outside its group's networks ([[fleet]] networks or addresses)"
	case errors.Is(err, power.ErrNoControl):
		return "no firmware control (firmware none, an IP shared with other workers, or not connected)"
	case errors.Is(err, firmware.ErrUnsupported):
		return "not supported by this firmware"
	case errors.Is(err, firmware.ErrOutOfRange):
		// Built from numbers only (ours and the miner's capabilities).
		_, msg, _ := strings.Cut(err.Error(), "out of range: ")
		return "out of range: " + msg
	case errors.Is(err, firmware.ErrNotConfirmed):
		return "the firmware did not confirm the change"
	case errors.Is(err, firmware.ErrAuth):
		return "the miner refused the credentials"
	case errors.Is(err, firmware.ErrSessionBusy):
		return "another client holds the miner's session"
	case errors.Is(err, firmware.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "not sent: the request ended first"
	case errors.Is(err, firmware.ErrProtocol):
		return "the miner answered something unreadable"
	}
	return "firmware error (see the log)"
}
