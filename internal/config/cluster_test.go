package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/cluster"
)

const clusterBase = minimalFile + `[policy]
import_limit_kw = 1000
`

// Every [cluster] key decodes into the node's config; defaults fill what is left out.
func TestClusterTable(t *testing.T) {
	f, err := Parse(clusterBase + `
[cluster]
site = "farm-1"
instance = "hall-a"
embed = true
embed_listen = "0.0.0.0:4222"
embed_store_dir = "/var/lib/hashgate/nats"
embed_cluster_listen = "0.0.0.0:6222"
embed_routes = "nats-route://10.0.0.2:6222, nats-route://10.0.0.3:6222"
lease_ttl = "4s"
stale_after = "12s"
safe_floor_kw = 150
`)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cluster
	if c == nil || c.Site != "farm-1" || c.Instance != "hall-a" || !c.Embed || c.EmbedListen != "0.0.0.0:4222" ||
		c.EmbedStoreDir != "/var/lib/hashgate/nats" || c.EmbedClusterListen != "0.0.0.0:6222" || !strings.Contains(c.EmbedRoutes, "10.0.0.3") ||
		c.LeaseTTL.D() != 4*time.Second || c.StaleAfter.D() != 12*time.Second || c.SafeFloorKW != 150 {
		t.Fatalf("decoded %+v", c)
	}
	f, err = Parse(clusterBase + "[cluster]\nsite = \"s\"\nnats_url = \"nats://10.0.0.1:4222,nats://10.0.0.2:4222\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Cluster.LeaseTTL.D() != 3*time.Second || f.Cluster.StaleAfter.D() != 10*time.Second || f.Cluster.InstanceName() == "" {
		t.Fatalf("defaults: %+v", f.Cluster)
	}
	if f, err := Parse(clusterBase); err != nil || f.Cluster != nil {
		t.Fatalf("no [cluster]: %v %+v", err, f.Cluster)
	}
}

// A wrong [cluster] key is named as written.
func TestClusterErrorsNameTheKey(t *testing.T) {
	ok := "site = \"s\"\nnats_url = \"nats://127.0.0.1:4222\"\n"
	cases := map[string]string{
		"site = \"a.b\"\nnats_url = \"nats://h:4222\"\n": "cluster.site",
		"site = \"s\"\n": "cluster.nats_url",
		"site = \"s\"\nnats_url = \"nats://h:4222\"\nembed = true\n":                                     "cluster.nats_url",
		"site = \"s\"\nnats_url = \"::\"\n":                                                              "cluster.nats_url",
		"site = \"s\"\ninstance = \"a b\"\nnats_url = \"nats://h:4222\"\n":                               "cluster.instance",
		ok + "lease_ttl = \"10ms\"\n":                                                                    "cluster.lease_ttl",
		ok + "lease_ttl = \"10s\"\nstale_after = \"5s\"\n":                                               "cluster.stale_after",
		ok + "safe_floor_kw = -1\n":                                                                      "cluster.safe_floor_kw",
		ok + "embed_store_dir = \"/x\"\n":                                                                "cluster.embed",
		"site = \"s\"\nembed = true\n":                                                                   "cluster.embed_store_dir",
		"site = \"s\"\nembed = true\nembed_store_dir = \"/x\"\nembed_listen = \"nope\"\n":                "cluster.embed_listen",
		"site = \"s\"\nembed = true\nembed_store_dir = \"/x\"\nembed_routes = \"::\"\n":                  "cluster.embed_routes",
		"site = \"s\"\nembed = true\nembed_store_dir = \"/x\"\nembed_routes = \"nats-route://h:6222\"\n": "cluster.embed_cluster_listen",
		ok + "lease = \"3s\"\n":                                                                          "cluster.lease",
	}
	for body, want := range cases {
		_, err := Parse(clusterBase + "[cluster]\n" + body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want an error naming %q, got %v", body, want, err)
		}
	}
	noPolicy := strings.Replace(clusterBase, "[policy]\nimport_limit_kw = 1000\n", "", 1)
	if _, err := Parse(noPolicy + "[cluster]\n" + ok); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("a [cluster] without [policy]: %v", err)
	}
}

// hashgate.example.toml's commented [cluster] section parses once uncommented, with the
// defaults it states.
func TestExampleClusterSection(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "hashgate.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var sec []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "# [cluster]":
			in = true
		case in && strings.HasPrefix(line, "# "):
			sec = append(sec, strings.TrimPrefix(line, "# "))
			continue
		case in:
			in = false
		}
		if line == "# [cluster]" {
			sec = append(sec, "[cluster]")
		}
	}
	if len(sec) < 10 {
		t.Fatalf("example [cluster] section: %q", sec)
	}
	text := strings.Join(sec, "\n")
	// The example lists both ways to reach NATS; a real file sets one.
	text = strings.Replace(text, "embed_store_dir", "# embed_store_dir", 1)
	f, err := Parse(clusterBase + text + "\n")
	if err != nil {
		t.Fatal(err)
	}
	d := cluster.DefaultConfig()
	if c := f.Cluster; c.LeaseTTL != d.LeaseTTL || c.StaleAfter != d.StaleAfter || c.SafeFloorKW != d.SafeFloorKW || c.EmbedListen != d.EmbedListen || c.Embed {
		t.Fatalf("example states other defaults: %+v", c)
	}
}
