package app

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner2"
	"github.com/hashgate/hashgate/stratum/noise"
)

// sv2Keys writes a key file as `hashgate keygen` does and returns it with the authority key
// miners pin.
func sv2Keys(t *testing.T) (string, noise.AuthorityPublicKey) {
	t.Helper()
	auth, err := noise.GenerateAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	static, err := noise.NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Minute)
	cert, err := noise.IssueServerCertificate(auth, static, from, from.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "sv2.key")
	if err := noise.WriteKeyFile(keyFile, noise.NewServerKeyFile(static, cert, auth.PublicKey())); err != nil {
		t.Fatal(err)
	}
	return keyFile, auth.PublicKey()
}

// scrape reads /metrics into series (name with labels, as printed) and values.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestSubsystemCountersReachMetrics runs hashgate with an SV2 listener and a push meter and
// checks that the counters the store, the Noise listener and the meters keep for themselves
// reach /metrics and move with what happens: shares written to the ledger, a handshake that
// completes and one that fails, a push refused.
func TestSubsystemCountersReachMetrics(t *testing.T) {
	keyFile, authority := sv2Keys(t)
	sp, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv2", Address: "127.0.0.1:0", KeyFile: keyFile}, paddr)
	f.Console.PublicMetrics = true
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	f.Policy = &p
	f.Fleet = []policy.FleetGroup{{Name: "rack5", Pattern: "rack5.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5}}
	const pushToken = "push-token-0123456789"
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source, m.PushToken = "grid", meter.RoleSiteImport, meter.KindHTTP, pushToken
	f.Meter = []meter.Config{m.WithDefaults()}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	base := "http://" + a.ConsoleAddr.String()

	before := scrape(t, base)
	for _, s := range []string{
		"hashgate_store_shares_written_total", "hashgate_store_shares_queued_total", "hashgate_store_share_batches_total",
		"hashgate_store_shares_shed_total", "hashgate_store_shares_lost_total", "hashgate_store_write_errors_total",
		"hashgate_store_write_failing", `hashgate_store_queue_depth{queue="lossy"}`,
		`hashgate_sv2_handshakes_total{result="completed"}`, `hashgate_sv2_handshakes_total{result="failed"}`,
		"hashgate_sv2_accept_errors_total", `hashgate_meter_push_rejected_total{meter="grid"}`,
		`hashgate_meter_readings_dropped_total{meter="grid"}`, `hashgate_meter_reconnects_total{meter="grid"}`,
		`hashgate_telemetry_polls_skipped_total{reason="busy"}`, "hashgate_policy_audit_dropped_total",
		"hashgate_energy_write_errors_total",
	} {
		if v, ok := before[s]; !ok || v != 0 {
			t.Errorf("%s = %v (exported %v), want 0 at start", s, v, ok)
		}
	}
	for s := range before {
		if strings.Contains(s, "ledger_overflow") {
			t.Errorf("%s: the proxy never counted it; the store's shed and lost counters do", s)
		}
	}

	// A peer that hangs up mid-handshake.
	c, err := net.Dial("tcp", a.Addrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("not a noise handshake"))
	c.Close()
	// A push with the wrong token.
	res, err := http.Post(base+"/api/v1/meters/grid/push", "application/json", strings.NewReader(`{"value":100}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("push without token: %s", res.Status)
	}
	// A miner whose shares reach the ledger.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mn := miner2.New(miner2.Config{Addr: a.Addrs[0].String(), Authority: authority, User: "rack5.sv2-01", HashRate: 100000})
	go mn.Run(ctx)
	waitFor(t, "shares accepted by the pool", func() bool { return sp.AcceptedBy("acct.rack5.sv2-01") > 0 })

	var now map[string]float64
	waitFor(t, "the counters to move", func() bool {
		now = scrape(t, base)
		return now["hashgate_store_shares_written_total"] > 0 && now[`hashgate_sv2_handshakes_total{result="failed"}`] == 1 &&
			now[`hashgate_sv2_handshakes_total{result="completed"}`] >= 1 && now[`hashgate_meter_push_rejected_total{meter="grid"}`] == 1
	})
	if now["hashgate_store_shares_queued_total"] < now["hashgate_store_shares_written_total"] || now["hashgate_store_share_batches_total"] < 1 ||
		now["hashgate_store_shares_lost_total"] != 0 || now["hashgate_store_write_failing"] != 0 {
		t.Fatalf("store series after shares: %v", now)
	}
}
