package power

import (
	"context"
	"math"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// energyLedger integrates power readings into energy per interval (kWh), holding each
// reading's value until the next one (what a meter's register means between polls). Gaps
// longer than maxHold are not integrated: a silent meter is not assumed to keep drawing.
type energyLedger struct {
	interval time.Duration
	start    time.Time
	sums     map[policy.Role]float64 // kWh so far in this interval
	last     map[policy.Role]policy.Reading
	budget   float64 // kWh of budget
	budgetAt time.Time
	budgetKW float64
}

const maxHold = 30 * time.Second

func newEnergyLedger(interval time.Duration, now time.Time) *energyLedger {
	return &energyLedger{interval: interval, start: now.Truncate(interval), sums: map[policy.Role]float64{}, last: map[policy.Role]policy.Reading{}}
}

// observe adds a reading; it returns finished intervals to store.
func (e *energyLedger) observe(r policy.Reading) []store.EnergyInterval {
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.At.IsZero() {
		return nil
	}
	out := e.advance(r.At)
	if prev, ok := e.last[r.Role]; ok && r.At.After(prev.At) {
		if d := r.At.Sub(prev.At); d <= maxHold {
			e.sums[r.Role] += prev.Value * d.Hours()
		}
	}
	e.last[r.Role] = r
	return out
}

// setBudget records the policy's mining budget (kW) from now on.
func (e *energyLedger) setBudget(kw float64, now time.Time) []store.EnergyInterval {
	out := e.advance(now)
	if !e.budgetAt.IsZero() && now.After(e.budgetAt) {
		e.budget += e.budgetKW * now.Sub(e.budgetAt).Hours()
	}
	e.budgetKW, e.budgetAt = kw, now
	return out
}

// advance closes every interval that ended by now, carrying held values to its end.
func (e *energyLedger) advance(now time.Time) []store.EnergyInterval {
	var out []store.EnergyInterval
	for end := e.start.Add(e.interval); !now.Before(end); end = e.start.Add(e.interval) {
		for role, prev := range e.last {
			if prev.At.Before(end) && end.Sub(prev.At) <= maxHold {
				e.sums[role] += prev.Value * end.Sub(prev.At).Hours()
				prev.At = end
				e.last[role] = prev
			}
		}
		if !e.budgetAt.IsZero() && e.budgetAt.Before(end) {
			e.budget += e.budgetKW * end.Sub(e.budgetAt).Hours()
			e.budgetAt = end
		}
		out = append(out, store.EnergyInterval{
			Start: e.start, Length: e.interval,
			ImportKWh: e.sums[policy.RoleSiteImport], MiningKWh: e.sums[policy.RoleMiningLoad],
			AIKWh: e.sums[policy.RoleAILoad], BudgetKWh: e.budget,
		})
		clear(e.sums)
		e.budget = 0
		e.start = end
	}
	return out
}

// queueEnergy hands closed intervals to the energy writer without waiting. The queue is
// bounded (energy_queue); when it is full the newest interval is dropped and counted
// (power_energy_full): a store that stalls loses energy records, never meter readings.
func (c *Controller) queueEnergy(ivs []store.EnergyInterval) {
	if c.st == nil {
		return
	}
	for _, iv := range ivs {
		select {
		case c.energy <- iv:
		default:
			if c.energyDrops.Add(1) == 1 {
				c.log.Warn().Time("start", iv.Start).Msg("energy queue full: the store is not keeping up; dropping intervals")
			}
		}
	}
}

// shutdownWrite bounds how long the energy writer keeps writing what is queued after Run's
// context ended.
const shutdownWrite = 5 * time.Second

// writeEnergy is the energy queue's one writer: it stores each interval durably, off the
// meter feed. After ctx ends it writes what is still queued, for at most shutdownWrite.
func (c *Controller) writeEnergy(ctx context.Context) {
	write := func(wctx context.Context, iv store.EnergyInterval) {
		if err := c.st.RecordEnergy(wctx, iv); err != nil {
			c.energyErrs.Add(1)
			c.log.Warn().Err(err).Time("start", iv.Start).Msg("energy interval not recorded")
		}
	}
	for {
		select {
		case iv := <-c.energy:
			write(context.WithoutCancel(ctx), iv)
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownWrite)
			defer cancel()
			for {
				select {
				case iv := <-c.energy:
					write(wctx, iv)
				default:
					return
				}
			}
		}
	}
}
