package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
)

const root = ".."

type consoleToken = console.TokenConfig

// composeFile is the part of docker-compose.yml the test checks.
type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Ports   []string `yaml:"ports"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestComposeReferencesExist(t *testing.T) {
	c := readCompose(t)
	for _, name := range []string{"hashgate", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	hg := c.Services["hashgate"]
	if hg.Build == nil {
		t.Fatal("hashgate is not built from the repository")
	}
	if _, err := os.Stat(filepath.Join(root, hg.Build.Context, hg.Build.Dockerfile)); err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	wantPorts := map[string]string{"hashgate": "8080:8080", "prometheus": "9090:9090", "grafana": "3000:3000"}
	for svc, p := range wantPorts {
		if !slices.Contains(c.Services[svc].Ports, p) {
			t.Errorf("%s does not publish %s: %v", svc, p, c.Services[svc].Ports)
		}
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s uses undeclared volume %s", name, src)
			}
		}
	}
	// The command's config file is the one mounted.
	cmd := strings.Join(hg.Command, " ")
	if !strings.Contains(cmd, "/etc/hashgate/hashgate.toml") || !slices.ContainsFunc(hg.Volumes, func(v string) bool {
		return strings.HasPrefix(v, "./deploy/hashgate.toml:/etc/hashgate/hashgate.toml")
	}) {
		t.Errorf("hashgate command %q does not read the mounted config", cmd)
	}
}

// TestDeployConfigAndScrapeToken parses the example config as hashgate does and checks that
// Prometheus sends the token the console accepts.
func TestDeployConfigAndScrapeToken(t *testing.T) {
	f, err := config.Load(filepath.Join(root, "deploy", "hashgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Console.Address != "0.0.0.0:8080" || !f.Console.AuthConfigured() {
		t.Fatalf("console %+v", f.Console)
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			Authorization struct {
				Type        string `yaml:"type"`
				Credentials string `yaml:"credentials"`
			} `yaml:"authorization"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	if len(prom.ScrapeConfigs) != 1 || prom.ScrapeConfigs[0].StaticConfigs[0].Targets[0] != "hashgate:8080" {
		t.Fatalf("scrape configs %+v", prom.ScrapeConfigs)
	}
	sum := sha256.Sum256([]byte(prom.ScrapeConfigs[0].Authorization.Credentials))
	hash := "sha256:" + hex.EncodeToString(sum[:])
	if !slices.ContainsFunc(f.Console.Tokens, func(tc consoleToken) bool { return tc.TokenHash == hash }) {
		t.Fatal("Prometheus's token is not a console token")
	}
}

// TestGrafanaProvisioning checks that the datasource the dashboard uses is provisioned.
func TestGrafanaProvisioning(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			UID string `yaml:"uid"`
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "hashgate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(db, &dash); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("datasources %+v", ds.Datasources)
	}
	for _, p := range dash.Panels {
		if p.Datasource.UID != ds.Datasources[0].UID {
			t.Errorf("panel %q uses datasource %q", p.Title, p.Datasource.UID)
		}
	}
	for _, want := range []string{"Site power", "Hashrate by group", "Shares per minute by result"} {
		if !slices.ContainsFunc(dash.Panels, func(p struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		}) bool {
			return p.Title == want
		}) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

// TestDockerComposeConfig runs `docker compose config` when the plugin is installed.
func TestDockerComposeConfig(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not installed")
	}
	if exec.Command(docker, "compose", "version").Run() != nil {
		t.Skip("docker compose plugin not installed")
	}
	cmd := exec.Command(docker, "compose", "-f", filepath.Join(root, "docker-compose.yml"), "config", "--quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, out)
	}
}
