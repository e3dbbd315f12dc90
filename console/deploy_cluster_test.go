package console_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hashgate/hashgate/internal/config"
)

// TestComposeClusterProfile: the "cluster" profile runs three NATS servers with JetStream,
// each routed to the other two, and two hashgate instances whose mounted configs pass
// `hashgate check` and name the three servers; stratum ports on every interface, consoles on
// the host's loopback, nothing of NATS published. The checks of TestComposeReferencesExist
// (pinned images, exec-form healthchecks, declared volumes) cover these services too.
func TestComposeClusterProfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string   `yaml:"image"`
			Profiles    []string `yaml:"profiles"`
			Command     []string `yaml:"command"`
			Ports       []string `yaml:"ports"`
			Volumes     []string `yaml:"volumes"`
			DependsOn   []string `yaml:"depends_on"`
			Healthcheck *struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	natsNames := []string{"nats-1", "nats-2", "nats-3"}
	for _, n := range natsNames {
		s, ok := c.Services[n]
		if !ok {
			t.Fatalf("service %s missing", n)
		}
		cmd := strings.Join(s.Command, " ")
		if !slices.Equal(s.Profiles, []string{"cluster"}) || !strings.HasPrefix(s.Image, "nats:") || len(s.Ports) != 0 ||
			!strings.Contains(cmd, "--jetstream") || !strings.Contains(cmd, "--store_dir /data") || !strings.Contains(cmd, "--cluster_name hashgate") ||
			!strings.Contains(cmd, "--name "+n) || s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "healthz?js-enabled-only=true") {
			t.Errorf("%s: %+v", n, s)
		}
		i := slices.Index(s.Command, "--routes")
		if i < 0 || i+1 >= len(s.Command) {
			t.Fatalf("%s has no routes", n)
		}
		var routes []string
		for _, r := range strings.Split(s.Command[i+1], ",") {
			routes = append(routes, strings.TrimSuffix(strings.TrimPrefix(r, "nats://"), ":6222"))
		}
		slices.Sort(routes)
		others := slices.DeleteFunc(slices.Clone(natsNames), func(x string) bool { return x == n })
		if !slices.Equal(routes, others) {
			t.Errorf("%s routes to %v, want %v", n, routes, others)
		}
	}
	sites := map[string]bool{}
	instances := map[string]bool{}
	for _, x := range []struct{ svc, file, stratum, console string }{
		{"hashgate-a", "hall-a.toml", "3334:3333", "127.0.0.1:8081:8080"},
		{"hashgate-b", "hall-b.toml", "3335:3333", "127.0.0.1:8082:8080"},
	} {
		s, ok := c.Services[x.svc]
		if !ok {
			t.Fatalf("service %s missing", x.svc)
		}
		if !slices.Equal(s.Profiles, []string{"cluster"}) || s.Image != "hashgate:local" || !slices.Equal(s.Ports, []string{x.stratum, x.console}) ||
			!slices.Contains(s.Volumes, "./deploy/cluster/"+x.file+":/etc/hashgate/hashgate.toml:ro") ||
			!slices.Equal(s.Command, []string{"run", "-c", "/etc/hashgate/hashgate.toml"}) ||
			s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/usr/local/bin/hashgate", "health", "-c", "/etc/hashgate/hashgate.toml"}) {
			t.Errorf("%s: %+v", x.svc, s)
		}
		for _, n := range natsNames {
			if !slices.Contains(s.DependsOn, n) {
				t.Errorf("%s does not depend on %s", x.svc, n)
			}
		}
		// What `hashgate check` runs: the file parses and validates.
		f, err := config.Load(filepath.Join(root, "deploy", "cluster", x.file))
		if err != nil {
			t.Fatalf("%s: %v", x.file, err)
		}
		cc := f.Cluster
		if cc == nil || f.Policy == nil {
			t.Fatalf("%s: no [cluster] or [policy]", x.file)
		}
		var urls []string
		for _, u := range strings.Split(cc.NATSURL, ",") {
			urls = append(urls, strings.TrimSpace(u))
		}
		if !slices.Equal(urls, []string{"nats://nats-1:4222", "nats://nats-2:4222", "nats://nats-3:4222"}) || cc.Embed {
			t.Errorf("%s: nats_url %q", x.file, cc.NATSURL)
		}
		if want := "http://127.0.0.1:" + strings.Split(x.console, ":")[1]; cc.ConsoleURL != want {
			t.Errorf("%s: console_url %q, want %q (the published console port)", x.file, cc.ConsoleURL, want)
		}
		if f.Console.Address != "0.0.0.0:8080" || !f.Console.AuthConfigured() {
			t.Errorf("%s: console %+v", x.file, f.Console)
		}
		sites[cc.Site], instances[cc.Instance] = true, true
	}
	if len(sites) != 1 || len(instances) != 2 {
		t.Errorf("sites %v, instances %v: want one site, two instances", sites, instances)
	}
}
