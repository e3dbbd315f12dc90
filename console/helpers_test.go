package console

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// fleetBackend is a Backend over plain data: a stand-in for the wiring where a test needs a
// fleet size or a state (10,000 workers, no policy) the small real site cannot give. Controls
// change the data as the real wiring would and are recorded with their actor.
type fleetBackend struct {
	mu        sync.Mutex
	status    proxy.Status
	workers   []proxy.WorkerStats
	pools     []proxy.PoolStats
	snap      policy.Snapshot
	hasPolicy bool
	fleet     []policy.FleetGroup
	gates     map[string]WorkerGate
	actions   []string // "actor action subject"
	subs      []chan policy.Event
}

func newFleetBackend(n int, withPolicy bool) *fleetBackend {
	now := time.Now()
	b := &fleetBackend{hasPolicy: withPolicy, gates: make(map[string]WorkerGate, n)}
	b.fleet = []policy.FleetGroup{
		{Name: "rack1", Pattern: "rack1.*", Firmware: policy.FirmwareBraiins, RatedKW: 3.5, EfficiencyJTH: 17},
		{Name: "rack2", Pattern: "rack2.*", Firmware: policy.FirmwareAntminer, RatedKW: 3.2, EfficiencyJTH: 21},
	}
	for i := range n {
		name := fmt.Sprintf("rack%d.m%05d", 1+i%2, i)
		b.workers = append(b.workers, proxy.WorkerStats{ID: uint64(i + 1), Worker: name, Remote: fmt.Sprintf("10.0.%d.%d:4028", i/250, i%250),
			UserAgent: "bosminer/23.10", Protocol: "sv1", State: "running", Pool: "main", Difficulty: 65536, Hashrate: 1.1e14,
			Shares:    map[string]uint64{"accepted": uint64(100 + i), "stale": uint64(i % 3), "low_difficulty": uint64(i % 5)},
			Connected: now.Add(-time.Hour), LastShare: now.Add(-time.Duration(i%60) * time.Second)})
		b.snap.Miners = append(b.snap.Miners, policy.MinerStatus{Miner: policy.Miner{ID: name, Worker: name, Group: fmt.Sprintf("rack%d", 1+i%2),
			RatedKW: 3.5, Commanded: policy.Command{Action: policy.ActionRun}}})
		if withPolicy {
			b.gates[name] = WorkerGate{Proof: "share"}
		}
	}
	b.status = proxy.Status{Miners: n, Running: n, ActivePool: "main", Hashrate: 1.1e14 * float64(n),
		Shares: map[string]uint64{"accepted": 1000, "stale": 3}, Drops: map[string]uint64{"stale_job": 2}, Started: now.Add(-time.Hour)}
	b.pools = []proxy.PoolStats{{Name: "main", URL: "stratum+tcp://pool.example:3333", Active: true, State: "up", Connections: 1,
		Difficulty: 1e6, Shares: map[string]uint64{"pool_accepted": 900, "pool_rejected": 4}, LatencyMs: 42, Hashrate: 1e15}}
	b.snap.Basis = policy.Basis{At: now, ImportKW: 900, LimitKW: 1000, AILoadKW: 400, MiningLoadKW: 500, BudgetKW: 550, Binding: policy.ReasonImportLimit}
	return b
}

func (b *fleetBackend) Status() proxy.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

func (b *fleetBackend) Workers() []proxy.WorkerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]proxy.WorkerStats(nil), b.workers...)
}

func (b *fleetBackend) Pools() []proxy.PoolStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]proxy.PoolStats(nil), b.pools...)
}

func (b *fleetBackend) Policy() (policy.Snapshot, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snap, b.hasPolicy
}

func (b *fleetBackend) Fleet() []policy.FleetGroup { return b.fleet }

func (b *fleetBackend) Gates() map[string]WorkerGate {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.gates)
}
func (b *fleetBackend) Meters() []MeterStatus {
	return []MeterStatus{{Name: "grid", Role: policy.RoleSiteImport, Kind: "modbus", Value: 900, At: time.Now(), Quality: "good",
		Readings: map[string]uint64{"good": 10, "unavailable": 1}}}
}
func (b *fleetBackend) FirmwareResults() []FirmwareResult {
	return []FirmwareResult{{Firmware: "braiins", Command: "sleep", Result: "ok", Count: 3}}
}
func (b *fleetBackend) MeterPush(string) http.Handler { return nil }

func (b *fleetBackend) Decisions(context.Context, store.DecisionQuery) ([]store.Decision, error) {
	return nil, ErrUnavailable
}

func (b *fleetBackend) Events(context.Context, store.EventQuery) ([]store.Event, error) {
	return nil, ErrUnavailable
}

func (b *fleetBackend) Subscribe(capacity int) Subscription {
	if !b.hasPolicy {
		return nil
	}
	ch := make(chan policy.Event, capacity)
	b.mu.Lock()
	b.subs = append(b.subs, ch)
	b.mu.Unlock()
	return chanSub{ch}
}

// publish sends ev to every subscriber (tests only publish what fits).
func (b *fleetBackend) publish(ev policy.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		ch <- ev
	}
}

type chanSub struct{ ch chan policy.Event }

func (c chanSub) C() <-chan policy.Event { return c.ch }
func (c chanSub) Close()                 {}

func (b *fleetBackend) record(actor, action, subject string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hasPolicy && action != "pause_worker" && action != "resume_worker" {
		return ErrUnavailable
	}
	b.actions = append(b.actions, actor+" "+action+" "+subject)
	return nil
}

func (b *fleetBackend) SetCap(_ context.Context, actor string, kw float64, until time.Time) error {
	if err := b.record(actor, "set_cap", fmt.Sprint(kw)); err != nil {
		return err
	}
	b.mu.Lock()
	b.snap.Manual.CapKW, b.snap.Manual.CapUntil = kw, until
	b.mu.Unlock()
	return nil
}

func (b *fleetBackend) ClearCap(_ context.Context, actor string) error {
	return b.record(actor, "clear_cap", "")
}

func (b *fleetBackend) PauseGroup(_ context.Context, actor, group string) error {
	if err := b.record(actor, "pause_group", group); err != nil {
		return err
	}
	b.mu.Lock()
	b.snap.Manual.PausedGroups = append(b.snap.Manual.PausedGroups, group)
	b.mu.Unlock()
	return nil
}

func (b *fleetBackend) ResumeGroup(_ context.Context, actor, group string) error {
	return b.record(actor, "resume_group", group)
}

func (b *fleetBackend) ScheduleDR(_ context.Context, actor string, ev policy.DREvent) error {
	if err := b.record(actor, "schedule_dr", ev.ID); err != nil {
		return err
	}
	b.mu.Lock()
	b.snap.Manual.DR = append(b.snap.Manual.DR, ev)
	b.mu.Unlock()
	return nil
}

func (b *fleetBackend) CancelDR(_ context.Context, actor, id string) error {
	return b.record(actor, "cancel_dr", id)
}

// PauseWorker and ResumeWorker move the worker's operator hold and, with it, its gate, as the
// power controller does: the gate is closed while any hold remains.
func (b *fleetBackend) PauseWorker(_ context.Context, actor, worker string) error {
	if err := b.record(actor, "pause_worker", worker); err != nil {
		return err
	}
	b.operatorHold(worker, true)
	return nil
}

func (b *fleetBackend) ResumeWorker(_ context.Context, actor, worker string) error {
	if err := b.record(actor, "resume_worker", worker); err != nil {
		return err
	}
	b.operatorHold(worker, false)
	return nil
}

func (b *fleetBackend) operatorHold(worker string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.gates[worker]
	have := g.Holds.Reasons()
	var rs []string
	for _, r := range []string{"policy", "operator", "restart", "safety"} { // the controller's order
		if r == "operator" && on || r != "operator" && slices.Contains(have, r) {
			rs = append(rs, r)
		}
	}
	g.Holds = HoldList(strings.Join(rs, ","))
	b.gates[worker] = g
	for i := range b.workers {
		if b.workers[i].Worker != worker {
			continue
		}
		b.workers[i].State = "running"
		if g.Holds != "" {
			b.workers[i].State = "paused"
		}
	}
}

func (b *fleetBackend) actionLog() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.actions...)
}

// setHashrate changes every worker's hashrate, so the next tick has a delta for each row.
func (b *fleetBackend) setHashrate(h float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.workers {
		b.workers[i].Hashrate = h
	}
	b.status.Hashrate = h * float64(len(b.workers))
}

var _ Backend = (*fleetBackend)(nil)

// Test accounts. Hashing with the real argon2id parameters costs 64 MiB per hash, so tests
// hash once per process.
const (
	adminPassword  = "correct horse battery staple"
	viewerPassword = "viewer password"
	apiToken       = "hg_test_token_admin"
	viewerToken    = "hg_test_token_viewer"
)

var hashes = sync.OnceValues(func() (string, string) {
	a, err := HashPassword(adminPassword)
	if err != nil {
		panic(err)
	}
	v, err := HashPassword(viewerPassword)
	if err != nil {
		panic(err)
	}
	return a, v
})

func authConfig() Config {
	a, v := hashes()
	cfg := DefaultConfig()
	cfg.Users = []UserConfig{{Name: "alice", PasswordHash: a, Role: RoleAdmin}, {Name: "victor", PasswordHash: v, Role: RoleViewer}}
	cfg.Tokens = []TokenConfig{{Name: "ci", TokenHash: HashToken(apiToken), Role: RoleAdmin}, {Name: "prom", TokenHash: HashToken(viewerToken), Role: RoleViewer}}
	return cfg
}

// newServer starts a Server over b; the hub runs until the test ends.
func newServer(t testing.TB, cfg Config, b Backend) *Server {
	t.Helper()
	s, err := New(cfg, b, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() { s.Close() })
	return s
}
