package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/store"
)

// testSite is a small real site for the console: a simulated pool, the real proxy, simulated
// miners mining through it over loopback, the real policy runner whose actuator gates the
// proxy and puts simulated miners to sleep, and the real SQLite store for the audit trail.
// Only the meters are synthetic: an AI load that swings above and below the mining budget.
// It implements Backend the way the wiring does.
type testSite struct {
	px     *proxy.Proxy
	runner *policy.Runner
	st     *store.Store
	fleet  []policy.FleetGroup
	miners map[string]*miner.Miner
	rated  map[string]float64 // worker → hashes per second at full power

	mu     sync.Mutex
	meters []MeterStatus
	aiKW   float64
	holds  map[string]HoldList // by worker: the gate is closed while a reason remains
}

const siteHashRate = 20000 // per simulated miner, H/s: enough shares at test difficulty, little CPU

func startSite(t testing.TB) *testSite {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	pcfg := simpool.DefaultConfig()
	pcfg.Difficulty = 1e-5
	pcfg.JobInterval = 0
	pcfg.BlockInterval = 0
	pool, err := simpool.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	paddr, err := pool.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	cfg := proxy.DefaultConfig()
	cfg.Pools = []proxy.PoolConfig{{Name: "sim-pool", URL: "stratum+tcp://" + paddr, User: "acct", Password: "x"}}
	cfg.Difficulty = proxy.DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 600, RetargetEvery: proxy.Duration(time.Minute)}
	px, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	px.Start(ctx)
	t.Cleanup(func() { px.Close() })
	addr, err := px.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	scfg := store.DefaultConfig()
	scfg.Path = filepath.Join(t.TempDir(), "site.db")
	st, err := store.Open(ctx, scfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	s := &testSite{px: px, st: st, miners: make(map[string]*miner.Miner), rated: make(map[string]float64), aiKW: 12,
		holds: make(map[string]HoldList)}
	s.fleet = []policy.FleetGroup{
		{Name: "rack1", Pattern: "rack1.*", Firmware: policy.FirmwareBraiins, RatedKW: 3.5, EfficiencyJTH: 17, Priority: 2},
		{Name: "rack2", Pattern: "rack2.*", Firmware: policy.FirmwareAntminer, RatedKW: 3.2, EfficiencyJTH: 21, Priority: 1},
	}
	pol := policy.DefaultConfig()
	pol.ImportLimitKW = 40
	pol.MarginKW = 1
	pol.MinRun, pol.MinPause = policy.Duration(time.Second), policy.Duration(time.Second)
	pol.RestoreStepKW, pol.RestoreInterval = 4, policy.Duration(time.Second)
	pol.HysteresisKW = 0.5
	pol.ConfirmAfter = policy.Duration(5 * time.Second)
	pol.StaleAfter = policy.Duration(5 * time.Second)
	pol.Interval = policy.Duration(500 * time.Millisecond)
	s.runner, err = policy.NewRunner(pol, policy.RunnerOptions{Actuator: policy.ActuatorFunc(s.apply), Audit: siteAudit{st}})
	if err != nil {
		t.Fatal(err)
	}

	for gi, g := range s.fleet {
		for i := range 4 {
			name := fmt.Sprintf("%s.m%02d", g.Name, i)
			m := miner.New(miner.Config{Addr: addr.String(), Username: name, HashRate: siteHashRate, UserAgent: []string{"bosminer/23.10", "Antminer S19/2024"}[gi]})
			s.miners[name], s.rated[name] = m, siteHashRate
			s.runner.UpsertMiner(policy.Miner{ID: name, Worker: name, Group: g.Name, Priority: g.Priority, RatedKW: g.RatedKW, EfficiencyJTH: g.EfficiencyJTH, Proven: true}) // each one hashes
			wg.Add(1)
			go func() { defer wg.Done(); m.Run(ctx) }()
		}
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.runner.Run(ctx) }()
	go func() { defer wg.Done(); s.meterLoop(ctx) }()
	return s
}

// apply is the site's actuator: the proxy gate plus the miner's "firmware" (its hash rate).
func (s *testSite) apply(_ context.Context, d policy.Decision) error {
	m := s.miners[d.MinerID]
	if m == nil {
		return fmt.Errorf("unknown miner %q", d.MinerID)
	}
	switch d.Action {
	case policy.ActionPause:
		s.hold(d.MinerID, "policy", true)
		m.SetHashRate(0)
	case policy.ActionThrottle:
		s.hold(d.MinerID, "policy", false)
		m.SetHashRate(s.rated[d.MinerID] * d.TargetKW / 3.5)
	default:
		s.hold(d.MinerID, "policy", false)
		m.SetHashRate(s.rated[d.MinerID])
	}
	return nil
}

// hold sets or lifts one reason to keep worker's gate closed and moves the gate as the power
// controller does: closed while any reason remains, so an operator's pause outlasts a restore.
func (s *testSite) hold(worker, reason string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	have := s.holds[worker].Reasons()
	var rs []string
	for _, r := range []string{"policy", "operator"} {
		if r == reason && on || r != reason && slices.Contains(have, r) {
			rs = append(rs, r)
		}
	}
	h := HoldList(strings.Join(rs, ","))
	s.holds[worker] = h
	if h != "" {
		s.px.Pause(worker)
	} else {
		s.px.Resume(worker)
	}
}

// Gates: every site miner hashes and is proven by its shares, or held.
func (s *testSite) Gates() map[string]WorkerGate {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]WorkerGate, len(s.miners))
	for name := range s.miners {
		g := WorkerGate{Holds: s.holds[name], Proof: "share"}
		if g.Holds != "" {
			g.Proof = "held"
		}
		out[name] = g
	}
	return out
}

// meterLoop feeds readings: an AI load that ramps up and down, mining from what is commanded.
func (s *testSite) meterLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ai := 14 + 8*math.Sin(now.Sub(start).Seconds()/6)
			var mining float64
			for _, m := range s.runner.Snapshot().Miners {
				kw, _ := minerPower(&m.Miner, now)
				mining += kw
			}
			s.mu.Lock()
			s.aiKW = ai
			s.meters = []MeterStatus{
				{Name: "grid", Role: policy.RoleSiteImport, Kind: "sim", Value: ai + mining, At: now, Quality: "good"},
				{Name: "ai-hall", Role: policy.RoleAILoad, Kind: "sim", Value: ai, At: now, Quality: "good"},
				{Name: "mining-feeder", Role: policy.RoleMiningLoad, Kind: "sim", Value: mining, At: now, Quality: "good"},
			}
			s.mu.Unlock()
			s.runner.Observe(policy.Reading{Role: policy.RoleAILoad, Value: ai, At: now})
			s.runner.Observe(policy.Reading{Role: policy.RoleMiningLoad, Value: mining, At: now})
			s.runner.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: ai + mining, At: now})
		}
	}
}

func (s *testSite) Status() proxy.Status                { return s.px.Status() }
func (s *testSite) Workers() []proxy.WorkerStats        { return s.px.Workers() }
func (s *testSite) Pools() []proxy.PoolStats            { return s.px.Pools() }
func (s *testSite) Policy() (policy.Snapshot, bool)     { return s.runner.Snapshot(), true }
func (s *testSite) Fleet() []policy.FleetGroup          { return s.fleet }
func (s *testSite) FirmwareResults() []FirmwareResult   { return nil }
func (s *testSite) Subscribe(capacity int) Subscription { return s.runner.Subscribe(capacity) }
func (s *testSite) MeterPush(string) http.Handler       { return nil }

func (s *testSite) Meters() []MeterStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MeterStatus(nil), s.meters...)
}

func (s *testSite) Decisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	return s.st.Decisions(ctx, q)
}

func (s *testSite) Events(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	return s.st.Events(ctx, q)
}

func (s *testSite) audit(ctx context.Context, actor, kind, subject string) error {
	detail, err := json.Marshal(map[string]string{"text": actor + " " + strings.ReplaceAll(strings.TrimPrefix(kind, "manual."), "_", " ") + " " + subject})
	if err != nil {
		return err
	}
	_, err = s.st.RecordEvent(ctx, store.Event{Time: time.Now(), Kind: kind, Subject: subject, Actor: actor, Detail: detail})
	return err
}

func (s *testSite) SetCap(ctx context.Context, actor string, kw float64, until time.Time) error {
	s.runner.SetCap(kw, until)
	return s.audit(ctx, actor, "manual.cap", fmt.Sprintf("%.1f kW", kw))
}

func (s *testSite) ClearCap(ctx context.Context, actor string) error {
	s.runner.ClearCap()
	return s.audit(ctx, actor, "manual.cap_cleared", "")
}

func (s *testSite) PauseGroup(ctx context.Context, actor, group string) error {
	s.runner.PauseGroup(group)
	return s.audit(ctx, actor, "manual.pause_group", group)
}

func (s *testSite) ResumeGroup(ctx context.Context, actor, group string) error {
	s.runner.ResumeGroup(group)
	return s.audit(ctx, actor, "manual.resume_group", group)
}

func (s *testSite) ScheduleDR(ctx context.Context, actor string, ev policy.DREvent) error {
	s.runner.AddDREvent(ev)
	return s.audit(ctx, actor, "manual.dr_scheduled", ev.ID)
}

func (s *testSite) CancelDR(ctx context.Context, actor, id string) error {
	s.runner.RemoveDREvent(id)
	return s.audit(ctx, actor, "manual.dr_cancelled", id)
}

func (s *testSite) PauseWorker(ctx context.Context, actor, worker string) error {
	if s.miners[worker] == nil {
		return ErrNotFound
	}
	s.hold(worker, "operator", true)
	return s.audit(ctx, actor, "manual.pause_worker", worker)
}

func (s *testSite) ResumeWorker(ctx context.Context, actor, worker string) error {
	if s.miners[worker] == nil {
		return ErrNotFound
	}
	s.hold(worker, "operator", false)
	return s.audit(ctx, actor, "manual.resume_worker", worker)
}

var _ Backend = (*testSite)(nil)

// siteAudit writes the runner's decisions and events to the store.
type siteAudit struct{ st *store.Store }

func (a siteAudit) RecordDecision(ctx context.Context, d policy.Decision) error {
	return a.st.RecordDecisions(ctx, store.Decision{Time: d.Basis.At, MinerID: d.MinerID, Action: d.Action.String(),
		TargetKW: d.TargetKW, ReasonCode: d.Reason.String(), Reason: d.Reason.Text()})
}

func (a siteAudit) RecordEvent(ctx context.Context, ev policy.Event) error {
	if ev.Kind != policy.EventNote && ev.Kind != policy.EventApplyFailed {
		return nil
	}
	e := policyEventView(ev)
	detail, err := json.Marshal(map[string]string{"text": e.Text, "level": e.Level})
	if err != nil {
		return err
	}
	_, err = a.st.RecordEvent(ctx, store.Event{Time: ev.At, Kind: e.Kind, Subject: e.Subject, Detail: detail})
	return err
}
