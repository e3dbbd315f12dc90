package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/alert"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
)

// notices is a webhook endpoint on loopback that keeps every notification it gets.
type notices struct {
	mu  sync.Mutex
	got []alert.Payload
}

func alertReceiver(t *testing.T) (url string, n *notices) {
	t.Helper()
	n = &notices{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		n.mu.Lock()
		n.got = append(n.got, p)
		n.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/services/T0/B0/hook", n
}

// await returns the first notification for name with status whose alert began at or after
// since, waiting for it; others (a pool still connecting at start) are passed over.
func (n *notices) await(t *testing.T, name, status string, since time.Time) alert.Payload {
	t.Helper()
	var p alert.Payload
	waitFor(t, name+" "+status, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, q := range n.got {
			if q.Alert.Name == name && q.Status == status && !q.Alert.Since.Before(since) {
				p = q
				return true
			}
		}
		return false
	})
	return p
}

// consoleAlerts is GET /api/v1/alerts on the running console.
func consoleAlerts(t *testing.T, a *App) (configured bool, checked time.Time, alerts []alert.Alert) {
	t.Helper()
	res, err := http.Get("http://" + a.ConsoleAddr.String() + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Configured bool          `json:"configured"`
		CheckedAt  time.Time     `json:"checked_at"`
		Alerts     []alert.Alert `json:"alerts"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("alerts: %d %v", res.StatusCode, err)
	}
	return body.Configured, body.CheckedAt, body.Alerts
}

func alertNames(as []alert.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

// TestAlertsPoolDownAndBack: the only pool (the simulated one) goes away; after pool_down_for
// the webhook gets no_pool_up firing and the console lists it; the pool comes back on the
// same address, the proxy reconnects and the webhook gets it resolved.
func TestAlertsPoolDownAndBack(t *testing.T) {
	sp, paddr := startTestPool(t)
	hook, got := alertReceiver(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Proxy.BackoffMin, f.Proxy.BackoffMax = proxy.Duration(100*time.Millisecond), proxy.Duration(500*time.Millisecond)
	f.Alert.Instance = "site-test"
	f.Alert.CheckInterval = alert.Duration(time.Second)
	f.Alert.PoolDownFor = alert.Duration(2 * time.Second)
	f.Alert.Webhooks = []alert.WebhookConfig{{URL: hook}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	poolUp := func() bool { return a.Proxy.Pools()[0].State == "up" }
	waitFor(t, "the pool to come up", poolUp)
	waitFor(t, "no alert while the pool is up", func() bool { return len(a.Alerts.Latest().Firing) == 0 })

	down := time.Now()
	sp.Close()
	p := got.await(t, alert.NameNoPoolUp, "firing", down.Add(-time.Second))
	if p.Instance != "site-test" || p.Alert.Severity != alert.SeverityCritical || !strings.Contains(p.Text, "[FIRING critical] site-test: No pool is up") ||
		!strings.Contains(p.Alert.Description, "Every pool is down: p (") || p.Alert.FiringSince.Sub(p.Alert.Since) < 2*time.Second {
		t.Fatalf("firing %+v", p)
	}
	configured, checked, active := consoleAlerts(t, a)
	if !configured || checked.Before(p.Alert.FiringSince) || !slices.Equal(alertNames(active), []string{alert.NameNoPoolUp}) {
		t.Fatalf("console alerts %v %+v", configured, active)
	}
	res, err := http.Get("http://" + a.ConsoleAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(m), `hashgate_queue_drops_total{reason="alert_webhook_queue_full"} 0`) {
		t.Fatal("/metrics does not count the webhook queue's drops")
	}

	sp2, err := pool.New(pool.Config{Difficulty: 1e-5, NBits: pool.DefaultConfig().NBits, Extranonce1Size: 4, Extranonce2Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	if _, err := sp2.Listen(paddr); err != nil {
		t.Fatal(err)
	}
	r := got.await(t, alert.NameNoPoolUp, "resolved", p.Alert.Since)
	if !strings.HasPrefix(r.Text, "[RESOLVED] site-test: No pool is up") || r.Alert.Ended.IsZero() {
		t.Fatalf("resolved %+v", r)
	}
	if !poolUp() {
		t.Fatal("resolved while the pool is not up")
	}
	if _, _, active := consoleAlerts(t, a); len(active) != 0 {
		t.Fatalf("console still shows %+v", active)
	}
}

// TestAlertsMeterPolicyAndMinersThroughTheWiring: a site meter that never read is a critical
// meter_stale and holds the fleet at its safe floor (fleet_safe_floor); readings resolve both.
// A connected miner that leaves is no_miners.
func TestAlertsMeterPolicyAndMinersThroughTheWiring(t *testing.T) {
	_, paddr := startTestPool(t)
	hook, got := alertReceiver(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const pushToken = "push-token-0123456789"
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	f.Policy = &p
	f.Fleet = []policy.FleetGroup{{Name: "rack1", Pattern: "rack1.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}}
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source, m.PushToken = "grid", meter.RoleSiteImport, meter.KindHTTP, pushToken
	f.Meter = []meter.Config{m.WithDefaults()}
	f.Alert.CheckInterval = alert.Duration(time.Second)
	f.Alert.SafeFloorFor = alert.Duration(time.Second)
	f.Alert.MinersOfflineFor = alert.Duration(time.Second)
	f.Alert.Webhooks = []alert.WebhookConfig{{URL: hook}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	stale := got.await(t, alert.NameMeterStale, "firing", start.Add(-time.Second))
	if stale.Alert.Severity != alert.SeverityCritical || stale.Alert.Labels["meter"] != "grid" || stale.Alert.Labels["role"] != "site_import" ||
		!strings.Contains(stale.Alert.Description, "no good reading yet") {
		t.Fatalf("meter_stale %+v", stale)
	}
	floor := got.await(t, alert.NameSafeFloor, "firing", start.Add(-time.Second))
	if !strings.Contains(floor.Alert.Description, "site_import") {
		t.Fatalf("fleet_safe_floor %+v", floor)
	}
	_, _, active := consoleAlerts(t, a)
	if names := alertNames(active); !slices.Contains(names, alert.NameMeterStale) || !slices.Contains(names, alert.NameSafeFloor) ||
		active[0].Severity != alert.SeverityCritical {
		t.Fatalf("console alerts %+v", active)
	}

	// Readings, kept coming so the meter stays fresh, resolve both.
	stop := make(chan struct{})
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		for {
			req, _ := http.NewRequest("POST", "http://"+a.ConsoleAddr.String()+"/api/v1/meters/grid/push", strings.NewReader(`{"value":100}`))
			req.Header.Set("Authorization", "Bearer "+pushToken)
			req.Header.Set("Content-Type", "application/json")
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-pushed }()
	got.await(t, alert.NameMeterStale, "resolved", stale.Alert.Since)
	got.await(t, alert.NameSafeFloor, "resolved", floor.Alert.Since)

	ctx, cancel := context.WithCancel(context.Background())
	mn := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "rack1.a", HashRate: 50000})
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		mn.Run(ctx)
	}()
	waitFor(t, "the miner to connect", func() bool { return a.Proxy.Status().Miners == 1 })
	connected := time.Now()
	// A check must see the miner: it is the baseline's peak.
	waitFor(t, "a check after the miner connected", func() bool {
		_, checked, _ := consoleAlerts(t, a)
		return checked.After(connected)
	})
	left := time.Now()
	cancel()
	<-ran
	gone := got.await(t, alert.NameNoMiners, "firing", left.Add(-time.Second))
	if gone.Alert.Severity != alert.SeverityCritical || !strings.Contains(gone.Alert.Description, "1 were connected") {
		t.Fatalf("no_miners %+v", gone)
	}
}

// TestAlertsStoreLockedThroughTheWiring: while another process holds the database's write
// lock the store's write probe fails and store_failing fires; once the lock is released it
// resolves.
func TestAlertsStoreLockedThroughTheWiring(t *testing.T) {
	_, paddr := startTestPool(t)
	hook, got := alertReceiver(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Store.BusyTimeout = 200 * time.Millisecond
	f.Alert.CheckInterval = alert.Duration(time.Second)
	f.Alert.Webhooks = []alert.WebhookConfig{{URL: hook}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The store writes too (its probe, the audit trail): wait for its lock to take ours.
	conn := otherConn(t, "file:"+f.Store.Path+"?_pragma=busy_timeout(10000)")
	locked := time.Now()
	execOn(t, conn, "BEGIN IMMEDIATE")
	p := got.await(t, alert.NameStoreFailing, "firing", locked.Add(-time.Second))
	if p.Alert.Severity != alert.SeverityWarning || !strings.Contains(p.Alert.Description, "The store does not take writes: store: write probe:") {
		t.Fatalf("store_failing %+v", p)
	}
	execOn(t, conn, "ROLLBACK")
	got.await(t, alert.NameStoreFailing, "resolved", p.Alert.Since)
}
