package power

import (
	"context"
	"maps"
	"math"
	"sort"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
)

type meterState struct {
	cfg      meter.Config
	last     meter.Reading
	good     time.Time
	readings map[string]uint64
}

// feed hands meter readings to the Runner and closed energy intervals to the energy queue.
// It never waits for the disk: a stalled store cannot make the meter look stale.
func (c *Controller) feed(ctx context.Context, in <-chan meter.Reading) {
	energy := newEnergyLedger(time.Minute, c.clk.Now())
	tick := c.clk.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C():
			var budget float64 // clustered: the budget is the site leader's
			if c.runner != nil {
				budget = c.runner.Basis().BudgetKW
			}
			c.queueEnergy(energy.setBudget(budget, now))
		case r := <-in:
			c.reading(energy, r)
		}
	}
}

// reading takes one meter reading: counted for the console, given to the Runner, integrated
// into the energy ledger. A reading that is not good counts as a faulty meter (NaN), not a
// late one; a missed poll is neither (staleness covers silence).
func (c *Controller) reading(energy *energyLedger, r meter.Reading) {
	role, err := policy.ParseRole(string(r.Role))
	if err != nil {
		return
	}
	// A reading cannot be from the future. A device clock ahead of ours would lock the meter
	// out until ours caught up (readings only move forward) and close energy intervals early:
	// such a reading is dated now.
	if now := c.clk.Now(); r.At.After(now) || r.At.IsZero() {
		r.At = now
	}
	c.countReading(r)
	v := r.Value
	switch {
	case r.Quality == meter.QualityUnavailable:
		return
	case !r.OK():
		v = math.NaN() // garbage from a meter: a fault, the fleet goes to the safe floor
	}
	pr := policy.Reading{Role: role, Value: v, At: r.At}
	c.sink.Observe(pr)
	if r.Role.IsPower() {
		c.queueEnergy(energy.observe(pr))
	}
}

func (c *Controller) countReading(r meter.Reading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ms := c.meterS[r.Meter]; ms != nil {
		ms.last = r
		ms.readings[r.Quality.String()]++
		if r.OK() {
			ms.good = r.At
		}
	}
}

// MeterStatus is one meter's state for the console.
type MeterStatus struct {
	Name string
	Role policy.Role
	Kind string // modbus, mqtt, http_poll, http_push, sim
	// Value and At are the last good reading (At zero: none yet).
	Value float64
	At    time.Time
	// Quality of the last reading (good, invalid, unavailable; none before the first).
	Quality string
	// Stale: the last good reading is older than the policy's stale_after.
	Stale bool
	// Trusted: the policy's last step took this meter's role as healthy. A meter may send
	// readings it calls good that the policy rejects (-50 kW at the grid, a jump to 1e12 kW).
	Trusted bool
	// Readings counts readings by quality since start.
	Readings map[string]uint64
}

// MeterStatus returns every meter's state, sorted by name.
func (c *Controller) MeterStatus() []MeterStatus {
	now := c.clk.Now()
	var b policy.Basis
	if c.runner != nil {
		b = c.runner.Basis()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]MeterStatus, 0, len(c.meterS))
	for name, ms := range c.meterS {
		role, _ := policy.ParseRole(string(ms.cfg.Role))
		kind := string(ms.cfg.Source)
		if ms.cfg.Source == meter.KindHTTP {
			kind = "http_poll"
			if ms.cfg.PushToken != "" {
				kind = "http_push"
			}
		}
		st := MeterStatus{Name: name, Role: role, Kind: kind, Value: ms.last.Value, At: ms.good,
			Quality: ms.last.Quality.String(), Stale: ms.good.IsZero() || now.Sub(ms.good) > c.staleAfter, Readings: maps.Clone(ms.readings)}
		if ms.last.At.IsZero() {
			st.Quality = "none"
		}
		st.Trusted = !st.Stale && !ms.last.At.IsZero() && !b.At.IsZero() && !b.Faults.Has(role)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
