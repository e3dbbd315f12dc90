package app

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// siteNATS is the cluster config of the instance that embeds the site's NATS server on a free
// loopback port (embed), and of the instances that reach it there (reach).
func siteNATS(t *testing.T) (embed, reach cluster.Config) {
	natsAddr := freeAddr(t)
	return cluster.Config{Embed: true, EmbedListen: natsAddr, EmbedStoreDir: filepath.Join(t.TempDir(), "js")},
		cluster.Config{NATSURL: "nats://" + natsAddr}
}

// freeAddr is a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startClusterApp runs a hashgate with the simulated site, in site "s1" as instance name.
func startClusterApp(t *testing.T, paddr, name string, cc cluster.Config, limitKW float64) *App {
	t.Helper()
	f := clusterFile(t, paddr, name, cc, limitKW)
	return startApp(t, &f)
}

// clusterFile is the validated config of instance name of site s1 (lease_ttl 2 s, stale_after
// 6 s) on the smallest simulated site under limitKW, with a viewer token for the console.
func clusterFile(t *testing.T, paddr, name string, cc cluster.Config, limitKW float64) config.File {
	t.Helper()
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Console.Tokens = []console.TokenConfig{{Name: "v", TokenHash: console.HashToken("hg_cluster_token"), Role: console.RoleViewer}}
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = limitKW, 1
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	cc.Site, cc.Instance = "s1", name
	cc.LeaseTTL, cc.StaleAfter = cluster.Duration(2*time.Second), cluster.Duration(6*time.Second)
	f.Cluster = &cc
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

// startApp starts the app f configures, closed when the test ends.
func startApp(t *testing.T, f *config.File) *App {
	t.Helper()
	a, err := Start(context.Background(), f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// runMiner runs a simulated miner named name against a until the test ends.
func runMiner(t *testing.T, a *App, name string) { runMinerStoppable(t, a, name) }

// viewerGet is GET path on a's console as its viewer.
func viewerGet(t *testing.T, a *App, path string) (int, []byte) {
	t.Helper()
	return siteCall(t, a, "hg_cluster_token", http.MethodGet, path, "")
}

// minerOf is the simulated miner of app x (a runs rack1.a0, the other rack1.b0).
func minerOf(x, a *App) string {
	if x == a {
		return "rack1.a0"
	}
	return "rack1.b0"
}

func workerState(a *App, name string) string {
	for _, w := range a.Proxy.Workers() {
		if w.Worker == name {
			return w.State
		}
	}
	return ""
}

// Two hashgates in one site, the first embedding the NATS server: one leads, the other
// follows, both consoles say so, and the leader's policy (a 100 kW site over its 50 kW limit)
// pauses the miners of both instances, the follower's through an order over NATS.
func TestClusterTwoAppsShareOnePolicy(t *testing.T) {
	_, paddr := startTestPool(t)
	embed, reach := siteNATS(t)
	a := startClusterApp(t, paddr, "hall-a", embed, 50)
	b := startClusterApp(t, paddr, "hall-b", reach, 50)
	runMiner(t, a, "rack1.a0")
	runMiner(t, b, "rack1.b0")

	status := func(x *App) cluster.Status {
		return getJSON[cluster.Status](t, x, "hg_cluster_token", "/api/v1/cluster")
	}
	waitFor(t, "one leader, one follower, both instances seen by both", func() bool {
		sa, sb := status(a), status(b)
		roles := map[cluster.Role]int{sa.Role: 1}
		roles[sb.Role]++
		return roles[cluster.RoleLeader] == 1 && roles[cluster.RoleFollower] == 1 && sa.Epoch == sb.Epoch && sa.Epoch > 0 &&
			sa.Leader == sb.Leader && len(sa.Instances) == 2 && len(sb.Instances) == 2
	})
	waitFor(t, "both instances' miners paused by the site's policy", func() bool {
		return workerState(a, "rack1.a0") == "paused" && workerState(b, "rack1.b0") == "paused"
	})
	leader, follower := a, b
	if status(b).Role == cluster.RoleLeader {
		leader, follower = b, a
	}
	// The leader's policy runs over both instances' miners; the console's policy view is
	// the site's on the leader.
	ids := map[string]bool{}
	for _, m := range leader.Cluster.Runner().Snapshot().Miners {
		ids[m.ID] = true
	}
	if !ids["rack1.a0"] || !ids["rack1.b0"] {
		t.Fatalf("leader's runner has %v", ids)
	}
	if snap, ok := (backend{leader}).Policy(); !ok || len(snap.Miners) != 2 {
		t.Fatalf("leader's console policy: %v %d miners", ok, len(snap.Miners))
	}
	// The leader's store keeps the site's decisions, the follower's miner's included.
	waitFor(t, "the leader's audit trail holding the follower's miner's decision", func() bool {
		ds, err := leader.Store.Decisions(context.Background(), store.DecisionQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.MinerID == minerOf(follower, a) {
				return true
			}
		}
		return false
	})
	if st := status(follower); st.OrdersApplied == 0 {
		t.Fatalf("follower carried out no order: %+v", st)
	}
	_, metrics := viewerGet(t, leader, "/metrics")
	for _, want := range []string{`hashgate_cluster_role{role="leader"} 1`, `hashgate_cluster_instances 2`, "hashgate_cluster_epoch "} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("leader's /metrics lacks %q", want)
		}
	}
	_, metrics = viewerGet(t, follower, "/metrics")
	if !strings.Contains(string(metrics), `hashgate_cluster_role{role="follower"} 1`) {
		t.Errorf("follower's /metrics lacks its role")
	}
}

// Without a [cluster] table there is no /api/v1/cluster and no cluster gauge.
func TestNoClusterNoEndpoint(t *testing.T) {
	p := startPolicyApp(t, console.RoleViewer)
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.a.ConsoleAddr.String()+"/api/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || p.a.Cluster != nil {
		t.Fatalf("single instance: /api/v1/cluster %d, node %v", res.StatusCode, p.a.Cluster)
	}
}
