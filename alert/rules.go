package alert

import (
	"fmt"
	"strings"
	"time"
)

// Snapshot is what one check reads from the running components.
type Snapshot struct {
	// Pools are the configured pools; with none, the pool alerts stay quiet.
	Pools []Pool
	// Meters are the configured meters.
	Meters []Meter
	// Policy is the power policy's last step; nil without a [policy].
	Policy *Policy
	// Miners is how many miners are connected (authorized channels).
	Miners int
	// Store is the store's health; nil when there is none.
	Store *Store
}

// Pool is one pool's connection state.
type Pool struct {
	Name string
	Up   bool
	// State and Reason say why it is not up (down, degraded; "connection refused").
	State, Reason string
}

// Meter is one meter's freshness.
type Meter struct {
	Name, Role string
	// Site marks the site import meter, the one the import limit is measured on: the policy
	// is blind without it, so its staleness is critical.
	Site  bool
	Stale bool
	// LastGood is when the last good reading was taken; zero when none yet.
	LastGood time.Time
}

// Policy is the policy's last step.
type Policy struct {
	// Mode is normal, over_limit, safe_floor or trip.
	Mode                        string
	ImportKW, LimitKW, BudgetKW float64
	// Faults names the meters the policy does not trust ("site_import,ai_load" or "none").
	Faults string
}

// Store is the store's health at a check.
type Store struct {
	// ProbeErr is the write probe's error; nil when a durable write went through.
	ProbeErr error
	// WriteErr is the share writer's latest commit error while its commits fail and are
	// retried; nil when the last commit succeeded.
	WriteErr error
	// WriteErrors and SharesLost are the store's counters since start (store.Stats).
	WriteErrors, SharesLost uint64
}

// Alert names, as in deploy/prometheus/alerts.yml (there CamelCase with a Hashgate prefix).
const (
	NameNoPoolUp      = "no_pool_up"
	NamePoolDown      = "pool_down"
	NameMeterStale    = "meter_stale"
	NameSiteOverLimit = "site_over_limit"
	NameSafeFloor     = "fleet_safe_floor"
	NameMinersOffline = "miners_offline"
	NameNoMiners      = "no_miners"
	NameStoreFailing  = "store_failing"
)

// storeWindow is how long a store write error or lost share keeps store_failing firing: the
// store retries with back-off, so errors do not show up at every check while a disk is full.
// deploy/prometheus/alerts.yml uses the same window (increase over 5m).
const storeWindow = 5 * time.Minute

// finding is a condition that holds at a check.
type finding struct {
	name        string
	sev         Severity
	labels      map[string]string
	summary     string
	description string
	// hold is how long the condition must hold before the alert fires.
	hold time.Duration
}

// key identifies an alert instance: its name and labels.
func (f *finding) key() string {
	if len(f.labels) == 0 {
		return f.name
	}
	var b strings.Builder
	b.WriteString(f.name)
	for _, k := range sortedKeys(f.labels) {
		fmt.Fprintf(&b, "\x00%s=%s", k, f.labels[k])
	}
	return b.String()
}

// conditions turns snapshots into findings. It keeps the little history two conditions need
// (the miner baseline, the store's counters); the Engine's goroutine owns it.
type conditions struct {
	cfg Config

	miners []minerSample // the last miners_baseline of counts, oldest first

	prevWriteErrors, prevLost uint64
	storeBadUntil             time.Time // store_failing holds until then after an error or loss
	storeWhy                  string
}

type minerSample struct {
	at time.Time
	n  int
}

func (c *conditions) evaluate(now time.Time, s *Snapshot) []finding {
	var out []finding
	out = c.pools(out, s.Pools)
	out = c.meters(out, s.Meters)
	out = c.policy(out, s.Policy)
	out = c.fleet(out, now, s.Miners)
	out = c.store(out, now, s.Store)
	return out
}

func (c *conditions) pools(out []finding, pools []Pool) []finding {
	var up, down []string
	for _, p := range pools {
		if p.Up {
			up = append(up, p.Name)
		} else {
			down = append(down, poolWhy(p))
		}
	}
	hold := c.cfg.PoolDownFor.D()
	if len(pools) > 0 && len(up) == 0 {
		return append(out, finding{name: NameNoPoolUp, sev: SeverityCritical, hold: hold,
			summary:     "No pool is up: miners get no work",
			description: "Every pool is down: " + strings.Join(down, ", ") + "."})
	}
	for _, p := range pools {
		if !p.Up {
			out = append(out, finding{name: NamePoolDown, sev: SeverityWarning, hold: hold,
				labels:      map[string]string{"pool": p.Name},
				summary:     "Pool " + p.Name + " is down",
				description: "Pool " + poolWhy(p) + " is down; miners work on " + strings.Join(up, ", ") + "."})
		}
	}
	return out
}

func poolWhy(p Pool) string {
	why := p.State
	if p.Reason != "" {
		why = p.Reason
	}
	if why == "" {
		return p.Name
	}
	return p.Name + " (" + why + ")"
}

func (c *conditions) meters(out []finding, meters []Meter) []finding {
	for _, m := range meters {
		if !m.Stale {
			continue
		}
		f := finding{name: NameMeterStale, sev: SeverityWarning, labels: map[string]string{"meter": m.Name, "role": m.Role},
			summary: "Meter " + m.Name + " (" + m.Role + ") is stale"}
		last := "it has sent no good reading yet"
		if !m.LastGood.IsZero() {
			last = "its last good reading was at " + m.LastGood.UTC().Format(time.RFC3339)
		}
		f.description = "The policy no longer trusts meter " + m.Name + ": " + last + "."
		if m.Site {
			f.sev = SeverityCritical
			f.description += " Without the site meter the fleet is held at its safe floor."
		}
		out = append(out, f)
	}
	return out
}

func (c *conditions) policy(out []finding, p *Policy) []finding {
	if p == nil {
		return out
	}
	switch p.Mode {
	case "over_limit":
		out = append(out, finding{name: NameSiteOverLimit, sev: SeverityCritical, hold: c.cfg.OverLimitFor.D(),
			summary: "The site is over its import limit",
			description: fmt.Sprintf("Site import %.1f kW is above the limit of %.1f kW; the policy is shedding miners (mining budget %.1f kW).",
				p.ImportKW, p.LimitKW, p.BudgetKW)})
	case "safe_floor":
		out = append(out, finding{name: NameSafeFloor, sev: SeverityWarning, hold: c.cfg.SafeFloorFor.D(),
			summary: "The fleet is held at its safe floor",
			description: fmt.Sprintf("The policy cannot trust its meters (%s), so mining is held at %.1f kW until they read again.",
				p.Faults, p.BudgetKW)})
	}
	return out
}

// fleet compares the connected miners with the most seen within miners_baseline.
func (c *conditions) fleet(out []finding, now time.Time, n int) []finding {
	cut := now.Add(-c.cfg.MinersBaseline.D())
	i := 0
	for i < len(c.miners) && c.miners[i].at.Before(cut) {
		i++
	}
	c.miners = append(c.miners[:copy(c.miners, c.miners[i:])], minerSample{now, n})
	peak := 0
	for _, s := range c.miners {
		peak = max(peak, s.n)
	}
	hold := c.cfg.MinersOfflineFor.D()
	window := c.cfg.MinersBaseline.D()
	switch {
	case peak == 0:
	case n == 0:
		out = append(out, finding{name: NameNoMiners, sev: SeverityCritical, hold: hold,
			summary:     "No miner is connected",
			description: fmt.Sprintf("All miners are gone: %d were connected within the last %v.", peak, window)})
	case float64(n) < float64(peak)*(1-c.cfg.MinersDropPercent/100):
		out = append(out, finding{name: NameMinersOffline, sev: SeverityWarning, hold: hold,
			summary: "Miners went offline",
			description: fmt.Sprintf("%d miners are connected, %.0f%% fewer than the %d connected within the last %v.",
				n, 100*float64(peak-n)/float64(peak), peak, window)})
	}
	return out
}

func (c *conditions) store(out []finding, now time.Time, s *Store) []finding {
	if s == nil {
		return out
	}
	var why []string
	if d := s.WriteErrors - c.prevWriteErrors; s.WriteErrors > c.prevWriteErrors {
		why = append(why, fmt.Sprintf("%d share commits failed", d))
	}
	if d := s.SharesLost - c.prevLost; s.SharesLost > c.prevLost {
		why = append(why, fmt.Sprintf("%d share events were lost", d))
	}
	c.prevWriteErrors, c.prevLost = s.WriteErrors, s.SharesLost
	if len(why) > 0 {
		c.storeBadUntil = now.Add(storeWindow)
		c.storeWhy = strings.Join(why, " and ") + " at " + now.UTC().Format(time.RFC3339)
	}
	var desc []string
	if s.ProbeErr != nil {
		desc = append(desc, "The store does not take writes: "+s.ProbeErr.Error()+".")
	}
	if s.WriteErr != nil {
		desc = append(desc, "Share commits are failing and being retried: "+s.WriteErr.Error()+".")
	}
	if now.Before(c.storeBadUntil) {
		desc = append(desc, "Within the last "+storeWindow.String()+": "+c.storeWhy+".")
	}
	if len(desc) == 0 {
		return out
	}
	return append(out, finding{name: NameStoreFailing, sev: SeverityWarning,
		summary:     "The store is failing: shares may be missing from the ledger",
		description: strings.Join(desc, " ")})
}
