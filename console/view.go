package console

import (
	"encoding/json"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
)

// Overview is the site at a glance: the first page of the console and GET /api/v1/overview.
type Overview struct {
	At      time.Time   `json:"at"`
	Started time.Time   `json:"started"`
	Site    *Site       `json:"site,omitempty"` // nil without a policy
	Miners  MinerCounts `json:"miners"`
	// Hashrate is the "now" view: the 5 min windows of connected miners not paused (by the
	// gate or a policy pause). The windows are every share counted toward a pool.
	Hashrate    float64           `json:"hashrate_hs"`
	Hashrate5m  float64           `json:"hashrate_5m_hs"`
	Hashrate1h  float64           `json:"hashrate_1h_hs"`
	Hashrate24h float64           `json:"hashrate_24h_hs"`
	Accepted    uint64            `json:"accepted"`
	Rejected    uint64            `json:"rejected"`
	Shares      map[string]uint64 `json:"shares"`
	Blocks      uint64            `json:"block_candidates"`
	ActivePool  string            `json:"active_pool"`
	PoolsUp     int               `json:"pools_up"`
	Pools       int               `json:"pools"`
	Drops       map[string]uint64 `json:"drops"`
}

// Site is the power picture from the policy's last step, in kW.
type Site struct {
	ImportKW     float64 `json:"import_kw"`
	LimitKW      float64 `json:"limit_kw"`
	AILoadKW     float64 `json:"ai_load_kw"`
	MiningLoadKW float64 `json:"mining_load_kw"`
	NonMiningKW  float64 `json:"non_mining_kw"`
	BudgetKW     float64 `json:"budget_kw"`
	CommittedKW  float64 `json:"committed_kw"`
	// MiningEstKW is the policy's estimate of what the proven fleet draws now; InFlightKW the
	// part of it commanded away but not yet confirmed; UnconfirmedKW what miners draw beyond
	// settled commands (by their telemetry); FleetKW the rated power of the proven fleet.
	MiningEstKW   float64 `json:"mining_est_kw"`
	InFlightKW    float64 `json:"in_flight_kw"`
	UnconfirmedKW float64 `json:"unconfirmed_kw"`
	FleetKW       float64 `json:"fleet_kw"`
	// OverLimitS is how long the site meter has read above the limit (mode over_limit).
	OverLimitS  float64  `json:"over_limit_s"`
	FrequencyHz float64  `json:"frequency_hz"`
	Price       float64  `json:"price"`
	Mode        string   `json:"mode"`
	Binding     string   `json:"binding"`
	Why         string   `json:"why"`
	Faults      []string `json:"faults"`
}

// MinerCounts counts connected workers by state.
type MinerCounts struct {
	Total      int `json:"total"`
	Running    int `json:"running"`
	Paused     int `json:"paused"`
	Throttled  int `json:"throttled"`
	Connecting int `json:"connecting"`
}

// Point is one sample of the overview charts (times in Unix milliseconds).
type Point struct {
	T        int64   `json:"t"`
	ImportKW float64 `json:"import_kw"`
	LimitKW  float64 `json:"limit_kw"`
	AIKW     float64 `json:"ai_kw"`
	MiningKW float64 `json:"mining_kw"`
	BudgetKW float64 `json:"budget_kw"`
	Hashrate float64 `json:"hashrate_hs"`
	Accepted uint64  `json:"accepted"`
	Rejected uint64  `json:"rejected"`
}

// Rejects counts a worker's rejected shares by reason.
type Rejects struct {
	Stale         uint64 `json:"stale"`
	Duplicate     uint64 `json:"duplicate"`
	LowDifficulty uint64 `json:"low_difficulty"`
	Invalid       uint64 `json:"invalid"`
	Pool          uint64 `json:"pool_rejected"`
	// Paused: valid shares of a miner whose gate was closed, answered as rejected (they earn
	// nothing; a gate-only miner keeps hashing and drawing power while paused).
	Paused uint64 `json:"paused"`
}

func (r Rejects) total() uint64 {
	return r.Stale + r.Duplicate + r.LowDifficulty + r.Invalid + r.Pool + r.Paused
}

// WorkerRow is one connected worker as the miners table shows it. It is comparable, so the
// hub can send only the rows that changed. Times are Unix milliseconds (0: never).
type WorkerRow struct {
	ID         uint64  `json:"id"`
	Worker     string  `json:"worker"`
	Remote     string  `json:"remote"`
	Protocol   string  `json:"protocol"`
	UserAgent  string  `json:"user_agent"`
	State      string  `json:"state"` // running | paused | throttled | connecting | offline
	Group      string  `json:"group"`
	Firmware   string  `json:"firmware"`
	Pool       string  `json:"pool"`
	Difficulty float64 `json:"difficulty"`
	// Hashrate is 0 while paused; the windows are what its shares prove, paused or not.
	Hashrate    float64 `json:"hashrate_hs"`
	Hashrate5m  float64 `json:"hashrate_5m_hs"`
	Hashrate1h  float64 `json:"hashrate_1h_hs"`
	Hashrate24h float64 `json:"hashrate_24h_hs"`
	Accepted    uint64  `json:"accepted"`
	Rejected    uint64  `json:"rejected"`
	Rejects     Rejects `json:"rejects"`
	PowerKW     float64 `json:"power_kw"`
	// PowerSource says where PowerKW comes from: "measured" (the miner's fresh telemetry) or
	// "commanded" (what the policy commanded); empty for a worker the policy does not control.
	PowerSource string  `json:"power_source,omitempty"`
	RatedKW     float64 `json:"rated_kw"`
	// Holds are the reasons the worker's gate is closed, empty when it is open; Proven says
	// whether the policy counts the worker as a miner, Proof on what evidence (WorkerGate).
	Holds     HoldList `json:"holds"`
	Proven    bool     `json:"proven"`
	Proof     string   `json:"proof"`
	Connected int64    `json:"connected_ms"`
	LastSeen  int64    `json:"last_seen_ms"`
	// OfflineSince is when an offline worker's last connection closed (state "offline" only).
	OfflineSince int64 `json:"offline_since_ms,omitempty"`
}

// HoldList is a set of gate hold reasons, comma-separated ("policy,operator"): a string, so
// that WorkerRow stays comparable. In JSON it is a list, ["policy","operator"], and [] when
// the gate is open.
type HoldList string

// Reasons returns the reasons one by one (nil when the gate is open).
func (h HoldList) Reasons() []string {
	if h == "" {
		return nil
	}
	return strings.Split(string(h), ",")
}

// MarshalJSON writes the reasons as a JSON list.
func (h HoldList) MarshalJSON() ([]byte, error) {
	if h == "" {
		return noHolds, nil // most rows: no allocation (encoding/json only reads it)
	}
	return json.Marshal(h.Reasons())
}

var noHolds = []byte("[]")

// UnmarshalJSON reads a JSON list of reasons.
func (h *HoldList) UnmarshalJSON(b []byte) error {
	var rs []string
	if err := json.Unmarshal(b, &rs); err != nil {
		return err
	}
	*h = HoldList(strings.Join(rs, ","))
	return nil
}

// PoolView is one pool row.
type PoolView struct {
	proxy.PoolStats
	Accepted uint64  `json:"accepted"`
	Rejected uint64  `json:"rejected"`
	SplitPct float64 `json:"split_pct"` // share of the proxy's hashrate going to this pool
}

// PolicyView is the policy page: the current decision and why, operator controls in force,
// fleet groups and recent decisions.
type PolicyView struct {
	Enabled      bool           `json:"enabled"`
	Site         *Site          `json:"site,omitempty"`
	CapKW        float64        `json:"cap_kw"`
	CapUntil     *time.Time     `json:"cap_until,omitempty"`
	PausedGroups []string       `json:"paused_groups"`
	DR           []DRView       `json:"dr"`
	Groups       []GroupView    `json:"groups"`
	Recent       []DecisionView `json:"recent"`
	Meters       []MeterStatus  `json:"meters"`
	Steps        uint64         `json:"steps"`
	Applied      uint64         `json:"applied"`
	ApplyFailed  uint64         `json:"apply_failed"`
	// SitePolicy, on a clustered instance that does not run the site's policy, says where it
	// runs (the leader and its console).
	SitePolicy *SitePolicy `json:"site_policy,omitempty"`
}

// DRView is a demand-response event.
type DRView struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TargetKW float64   `json:"target_kw"`
	Active   bool      `json:"active"`
}

// GroupView is one fleet group with its live counts.
type GroupView struct {
	Name     string  `json:"name"`
	Firmware string  `json:"firmware"`
	Match    string  `json:"match"`
	RatedKW  float64 `json:"rated_kw"`
	Priority int     `json:"priority"`
	Paused   bool    `json:"paused_by_operator"`
	Miners   int     `json:"miners"`
	Running  int     `json:"running"`
	Stopped  int     `json:"paused"`
	Throttle int     `json:"throttled"`
	PowerKW  float64 `json:"power_kw"`
	// Hashrate counts the group's miners that are not paused; the windows all its miners.
	Hashrate    float64 `json:"hashrate_hs"`
	Hashrate5m  float64 `json:"hashrate_5m_hs"`
	Hashrate1h  float64 `json:"hashrate_1h_hs"`
	Hashrate24h float64 `json:"hashrate_24h_hs"`
}

// DecisionView is one policy decision.
type DecisionView struct {
	At       time.Time `json:"at"`
	Miner    string    `json:"miner"`
	Group    string    `json:"group,omitempty"`
	Action   string    `json:"action"`
	TargetKW float64   `json:"target_kw"`
	FromKW   float64   `json:"from_kw"`
	Reason   string    `json:"reason"`
	Why      string    `json:"why"`
}

// view is everything built from one round of Backend reads.
type view struct {
	overview Overview
	point    Point
	pools    []PoolView
	policy   PolicyView
	workers  []WorkerRow // sorted by ID
	offline  []WorkerRow // remembered disconnected workers, by name (state "offline")
	groups   map[string]*groupTally
	conns    proxy.ConnStats // miner connections across the stratum listeners, for /metrics
}

// groupTally aggregates workers of one group for /metrics.
type groupTally struct {
	workers    int
	hashrate   float64
	difficulty float64 // sum, for the mean
}

const ungrouped = "ungrouped"

// buildView reads the backend once and joins proxy and policy state.
func buildView(b Reader, now time.Time) *view {
	st := b.Status()
	ws := b.Workers()
	ps := b.Pools()
	snap, hasPolicy := b.Policy()
	fleet := b.Fleet()
	gates := b.Gates()

	v := &view{groups: make(map[string]*groupTally)}
	fw := make(map[string]string, len(fleet))
	for _, g := range fleet {
		fw[g.Name] = string(g.Firmware)
	}
	byWorker := make(map[string]*policy.MinerStatus, len(snap.Miners))
	for i := range snap.Miners {
		m := &snap.Miners[i]
		byWorker[cmp(m.Worker, m.ID)] = m
	}

	gv := make(map[string]*GroupView, len(fleet))
	for _, g := range fleet {
		gv[g.Name] = &GroupView{Name: g.Name, Firmware: string(g.Firmware), Match: g.Pattern, RatedKW: g.RatedKW,
			Priority: g.Priority, Paused: slices.Contains(snap.Manual.PausedGroups, g.Name)}
	}

	o := &v.overview
	o.At, o.Started = now, st.Started
	o.Hashrate5m, o.Hashrate1h, o.Hashrate24h = round3(fin(st.Hashrate5m)), round3(fin(st.Hashrate1h)), round3(fin(st.Hashrate24h))
	o.Shares, o.Blocks, o.ActivePool, o.Drops = st.Shares, st.Blocks, st.ActivePool, st.Drops
	v.conns = st.Conns
	o.Accepted, o.Rejected = acceptedRejected(st.Shares)
	o.Pools = len(ps)

	v.workers = make([]WorkerRow, len(ws))
	for i := range ws {
		w := &ws[i]
		r := WorkerRow{ID: w.ID, Worker: w.Worker, Remote: w.Remote, Protocol: w.Protocol, UserAgent: w.UserAgent,
			State: w.State, Pool: w.Pool, Difficulty: fin(w.Difficulty), Hashrate: round3(fin(w.Hashrate)),
			Hashrate5m: round3(fin(w.Hashrate5m)), Hashrate1h: round3(fin(w.Hashrate1h)), Hashrate24h: round3(fin(w.Hashrate24h)),
			Connected: ms(w.Connected), LastSeen: ms(w.LastShare)}
		r.Accepted = w.Shares[proxy.ResultAccepted.String()]
		r.Rejects = Rejects{Stale: w.Shares[proxy.ResultStale.String()], Duplicate: w.Shares[proxy.ResultDuplicate.String()],
			LowDifficulty: w.Shares[proxy.ResultLowDiff.String()], Invalid: w.Shares[proxy.ResultInvalid.String()],
			Pool: w.Shares[proxy.ResultPoolRejected.String()], Paused: w.Shares[proxy.ResultPaused.String()]}
		r.Rejected = r.Rejects.total()
		if r.LastSeen == 0 {
			r.LastSeen = r.Connected
		}
		if m := byWorker[w.Worker]; m != nil {
			r.Group, r.RatedKW = m.Group, fin(m.RatedKW)
			kw, src := minerPower(&m.Miner, now)
			r.PowerKW, r.PowerSource = fin(kw), src
			switch m.Commanded.Action {
			case policy.ActionPause:
				if r.State == "running" {
					r.State = "paused"
				}
			case policy.ActionThrottle:
				if r.State == "running" {
					r.State = "throttled"
				}
			}
		} else {
			r.Group = matchGroup(fleet, w.Worker, w.Remote)
		}
		r.Firmware = fw[r.Group]
		r.Proof = "none"
		if g, ok := gates[w.Worker]; ok && w.Worker != "" {
			r.Holds = g.Holds
			if g.Proof != "" {
				r.Proof = g.Proof
			}
		}
		r.Proven = r.Proof != "none"
		now := fin(w.Hashrate)
		if r.State == "paused" { // paused by policy command too: not mining for the site now
			now, r.Hashrate = 0, 0
		}
		o.Hashrate += now
		switch r.State {
		case "running":
			o.Miners.Running++
		case "paused":
			o.Miners.Paused++
		case "throttled":
			o.Miners.Throttled++
		default:
			o.Miners.Connecting++
		}
		g := cmp(r.Group, ungrouped)
		t := v.groups[g]
		if t == nil {
			t = &groupTally{}
			v.groups[g] = t
		}
		t.workers++
		t.hashrate += now
		t.difficulty += w.Difficulty
		if x := gv[r.Group]; x != nil {
			x.Miners++
			x.PowerKW += r.PowerKW
			x.Hashrate += now
			x.Hashrate5m += r.Hashrate5m
			x.Hashrate1h += r.Hashrate1h
			x.Hashrate24h += r.Hashrate24h
			switch r.State {
			case "running":
				x.Running++
			case "paused":
				x.Stopped++
			case "throttled":
				x.Throttle++
			}
		}
		v.workers[i] = r
	}
	o.Miners.Total = len(ws)
	v.offline = offlineRows(b, v.workers, fw)
	if !slices.IsSortedFunc(v.workers, func(a, b WorkerRow) int { return compareU64(a.ID, b.ID) }) {
		slices.SortFunc(v.workers, func(a, b WorkerRow) int { return compareU64(a.ID, b.ID) })
	}

	var poolRate float64
	for _, p := range ps {
		poolRate += p.Hashrate
	}
	v.pools = make([]PoolView, len(ps))
	for i, p := range ps {
		p.Difficulty, p.LatencyMs, p.Hashrate = fin(p.Difficulty), fin(p.LatencyMs), fin(p.Hashrate)
		p.Hashrate5m, p.Hashrate1h, p.Hashrate24h = fin(p.Hashrate5m), fin(p.Hashrate1h), fin(p.Hashrate24h)
		pv := PoolView{PoolStats: p}
		pv.Accepted = p.Shares[proxy.ResultPoolAccepted.String()]
		pv.Rejected = p.Shares[proxy.ResultPoolRejected.String()]
		if poolRate > 0 {
			pv.SplitPct = 100 * p.Hashrate / poolRate
		}
		if p.State == "up" {
			o.PoolsUp++
		}
		v.pools[i] = pv
	}

	pv := &v.policy
	pv.Enabled = hasPolicy
	pv.SitePolicy = sitePolicyOf(b, hasPolicy)
	pv.PausedGroups = nonNil(snap.Manual.PausedGroups)
	pv.Meters = nonNil(b.Meters())
	for i := range pv.Meters {
		pv.Meters[i].Value = fin(pv.Meters[i].Value)
	}
	pv.DR = []DRView{}
	pv.Recent = []DecisionView{}
	if hasPolicy {
		o.Site = siteOf(snap.Basis)
		pv.Site = o.Site
		if !snap.Manual.CapUntil.IsZero() && now.Before(snap.Manual.CapUntil) {
			until := snap.Manual.CapUntil
			pv.CapKW, pv.CapUntil = fin(snap.Manual.CapKW), &until
		}
		for _, e := range snap.Manual.DR {
			pv.DR = append(pv.DR, DRView{ID: e.ID, Start: e.Start, End: e.End, TargetKW: fin(e.TargetKW),
				Active: !now.Before(e.Start) && now.Before(e.End)})
		}
		for i := len(snap.Recent) - 1; i >= 0; i-- { // newest first
			pv.Recent = append(pv.Recent, decisionView(&snap.Recent[i]))
		}
		pv.Steps, pv.Applied, pv.ApplyFailed = snap.Steps, snap.Applied, snap.ApplyFailed
	}
	pv.Groups = make([]GroupView, 0, len(fleet))
	for _, g := range fleet {
		x := gv[g.Name]
		x.Hashrate, x.Hashrate5m, x.Hashrate1h, x.Hashrate24h = round3(x.Hashrate), round3(x.Hashrate5m), round3(x.Hashrate1h), round3(x.Hashrate24h)
		x.PowerKW = math.Round(x.PowerKW*1000) / 1000
		pv.Groups = append(pv.Groups, *x)
	}

	o.Hashrate = round3(o.Hashrate)
	v.point = Point{T: now.UnixMilli(), Hashrate: o.Hashrate, Accepted: o.Accepted, Rejected: o.Rejected}
	if s := o.Site; s != nil {
		v.point.ImportKW, v.point.LimitKW, v.point.AIKW = s.ImportKW, s.LimitKW, s.AILoadKW
		v.point.MiningKW, v.point.BudgetKW = s.MiningLoadKW, s.BudgetKW
	}
	return v
}

func siteOf(b policy.Basis) *Site {
	s := &Site{ImportKW: fin(b.ImportKW), LimitKW: fin(b.LimitKW), AILoadKW: fin(b.AILoadKW),
		MiningLoadKW: fin(b.MiningLoadKW), NonMiningKW: fin(b.NonMiningKW), BudgetKW: fin(b.BudgetKW),
		CommittedKW: fin(b.CommittedKW), MiningEstKW: fin(b.MiningEstKW), InFlightKW: fin(b.InFlightKW),
		UnconfirmedKW: fin(b.UnconfirmedKW), FleetKW: fin(b.FleetKW), OverLimitS: fin(b.OverLimitS),
		FrequencyHz: fin(b.FrequencyHz), Price: fin(b.Price), Mode: b.Mode.String(), Binding: b.Binding.String(),
		Why: b.Why(b.Binding), Faults: []string{}}
	for _, r := range b.Faults.Roles() {
		s.Faults = append(s.Faults, r.String())
	}
	return s
}

func decisionView(d *policy.Decision) DecisionView {
	return DecisionView{At: d.Basis.At, Miner: d.MinerID, Group: d.Group, Action: d.Action.String(),
		TargetKW: fin(d.TargetKW), FromKW: fin(d.FromKW), Reason: d.Reason.String(), Why: d.Why()}
}

// minerPower is the miner's draw and where it comes from: its own measurement when fresh
// ("measured"), else what it was commanded ("commanded").
func minerPower(m *policy.Miner, now time.Time) (kw float64, source string) {
	if !m.MeasuredAt.IsZero() && now.Sub(m.MeasuredAt) < 2*time.Minute {
		return m.MeasuredKW, "measured"
	}
	switch m.Commanded.Action {
	case policy.ActionPause:
		return 0, "commanded"
	case policy.ActionThrottle:
		return m.Commanded.TargetKW, "commanded"
	}
	return m.RatedKW, "commanded"
}

// matchGroup finds the fleet group of a worker the policy does not know (yet).
func matchGroup(fleet []policy.FleetGroup, worker, remote string) string {
	var ip netip.Addr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		ip, _ = netip.ParseAddr(host)
	}
	for i := range fleet {
		if fleet[i].Match(worker, ip) {
			return fleet[i].Name
		}
	}
	return ""
}

func acceptedRejected(m map[string]uint64) (acc, rej uint64) {
	acc = m[proxy.ResultAccepted.String()]
	for _, r := range []proxy.Result{proxy.ResultStale, proxy.ResultDuplicate, proxy.ResultLowDiff, proxy.ResultInvalid, proxy.ResultPoolRejected, proxy.ResultPaused} {
		rej += m[r.String()]
	}
	return acc, rej
}

// round3 keeps three significant digits: hashrate estimates jitter with every share, and a
// row that changed only in the fourth digit is not worth a delta.
func round3(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	e := 2 - math.Floor(math.Log10(math.Abs(x)))
	if e < 0 { // multiply by a whole power of ten: 5e11 stays 5e11, not 4.9999999999999994e11
		q := math.Pow(10, -e)
		return math.Round(x/q) * q
	}
	p := math.Pow(10, e)
	return math.Round(x*p) / p
}

// fin replaces NaN and ±Inf (an unusable meter value) with 0: JSON has no spelling for them.
func fin(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
