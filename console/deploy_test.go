package console_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/internal/testpeer"
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
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
	Secrets map[string]struct {
		Environment string `yaml:"environment"`
		File        string `yaml:"file"`
	} `yaml:"secrets"`
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
	// Miners reach the stratum port from anywhere; the web ports only on the host's loopback.
	wantPorts := map[string][]string{"hashgate": {"3333:3333", "127.0.0.1:8080:8080"}, "prometheus": {"127.0.0.1:9090:9090"},
		"alertmanager": {"127.0.0.1:9093:9093"}, "grafana": {"127.0.0.1:3000:3000"}}
	for svc, want := range wantPorts {
		if got := c.Services[svc].Ports; !slices.Equal(got, want) {
			t.Errorf("%s publishes %v, want %v", svc, got, want)
		}
	}
	for name, s := range c.Services {
		if s.Build == nil && (!strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("%s image %q is not pinned to a tag", name, s.Image)
		}
		if s.Healthcheck != nil && (len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD") {
			t.Errorf("%s healthcheck %v: want an exec-form CMD (distroless and busybox images have no shell to rely on)", name, s.Healthcheck.Test)
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
	for _, want := range []string{"Site power", "Hashrate by group", "Shares per minute by result", "Pool up", "Meter stale",
		"Policy mode", "Block candidates", "Paused groups", "Alerts firing"} {
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

// TestComposeSecretsAndAlerting checks what the compose file hands each service: Grafana's
// admin password and the alert webhook URL must come from the operator's .env (compose stops
// without them; both are in deploy/compose.env.example), Prometheus loads the mounted rules
// and sends to the alertmanager service, and Alertmanager reads the URL from the secret the
// service mounts. amtool checks alertmanager.yml when installed.
func TestComposeSecretsAndAlerting(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	c := readCompose(t)
	required := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*):\?[^}]+\}`).FindAllStringSubmatch(string(raw), -1) {
		required[m[1]] = true
	}
	if pw := c.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"]; !regexp.MustCompile(`^\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}$`).MatchString(pw) {
		t.Errorf("Grafana's admin password %q is not required from the environment", pw)
	}
	if strings.Contains(string(raw), "admin/admin") || strings.Contains(string(raw), ":-admin}") {
		t.Error("compose mentions a default Grafana password")
	}
	env, err := os.ReadFile(filepath.Join(root, "deploy", "compose.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			documented[strings.TrimSpace(k)] = true
		}
	}
	for v := range required {
		if !documented[v] {
			t.Errorf("compose requires %s, which deploy/compose.env.example does not list", v)
		}
	}
	for name, sec := range c.Secrets {
		if sec.Environment == "" || !required[sec.Environment] {
			t.Errorf("secret %s: its variable %q is not required with ${%s:?...}: an unset one would mount an empty file", name, sec.Environment, sec.Environment)
		}
	}

	am := c.Services["alertmanager"]
	if !strings.HasPrefix(am.Image, "prom/alertmanager:v") || len(am.Secrets) != 1 {
		t.Fatalf("alertmanager service %+v", am)
	}
	if _, ok := c.Secrets[am.Secrets[0]]; !ok {
		t.Fatalf("alertmanager mounts undeclared secret %s", am.Secrets[0])
	}
	amConfig := mountTarget(t, am.Volumes, "./deploy/alertmanager/alertmanager.yml")
	if !slices.Contains(am.Command, "--config.file="+amConfig) {
		t.Errorf("alertmanager command %v does not read %s", am.Command, amConfig)
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "alertmanager", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type route struct {
		Receiver string  `yaml:"receiver"`
		Routes   []route `yaml:"routes"`
	}
	var amc struct {
		Route     route `yaml:"route"`
		Receivers []struct {
			Name         string `yaml:"name"`
			SlackConfigs []struct {
				APIURL       string `yaml:"api_url"`
				APIURLFile   string `yaml:"api_url_file"`
				SendResolved bool   `yaml:"send_resolved"`
			} `yaml:"slack_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(b, &amc); err != nil {
		t.Fatal(err)
	}
	receivers := map[string]bool{}
	for _, r := range amc.Receivers {
		receivers[r.Name] = true
		for _, sc := range r.SlackConfigs {
			if sc.APIURL != "" || sc.APIURLFile != "/run/secrets/"+am.Secrets[0] || !sc.SendResolved {
				t.Errorf("receiver %s: %+v, want api_url_file /run/secrets/%s and send_resolved", r.Name, sc, am.Secrets[0])
			}
		}
	}
	var walk func(r route)
	walk = func(r route) {
		if r.Receiver != "" && !receivers[r.Receiver] {
			t.Errorf("route to unknown receiver %q", r.Receiver)
		}
		for _, sub := range r.Routes {
			walk(sub)
		}
	}
	if amc.Route.Receiver == "" {
		t.Error("alertmanager.yml has no default receiver")
	}
	walk(amc.Route)

	prom := c.Services["prometheus"]
	promConfig := mountTarget(t, prom.Volumes, "./deploy/prometheus/prometheus.yml")
	pb, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(pb, &pc); err != nil {
		t.Fatal(err)
	}
	if len(pc.RuleFiles) == 0 {
		t.Fatal("prometheus.yml loads no rules")
	}
	for _, rf := range pc.RuleFiles {
		// Relative rule files resolve against prometheus.yml's directory, here and in the container.
		if want := path.Join(path.Dir(promConfig), rf); mountTarget(t, prom.Volumes, "./deploy/prometheus/"+rf) != want {
			t.Errorf("rule file %s is not mounted at %s", rf, want)
		}
	}
	am0 := pc.Alerting.Alertmanagers
	if len(am0) != 1 || len(am0[0].StaticConfigs) != 1 || !slices.Equal(am0[0].StaticConfigs[0].Targets, []string{"alertmanager:9093"}) {
		t.Errorf("prometheus alerting %+v, want the alertmanager service", am0)
	}

	amtool, err := exec.LookPath("amtool")
	if err != nil {
		testpeer.MissingPeer(t, "amtool (apt-get install prometheus-alertmanager)")
	}
	if out, err := exec.Command(amtool, "check-config", filepath.Join(root, "deploy", "alertmanager", "alertmanager.yml")).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

// mountTarget returns where a service mounts the repository file src (read-only).
func mountTarget(t *testing.T, volumes []string, src string) string {
	t.Helper()
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if parts[0] == src {
			if len(parts) != 3 || parts[2] != "ro" {
				t.Errorf("%s is not mounted read-only: %s", src, v)
			}
			return parts[1]
		}
	}
	t.Fatalf("%s is not mounted (volumes %v)", src, volumes)
	return ""
}

// TestSystemdUnit: the unit hands the dynamic user its config through a credential (it could
// not read a root-owned file in /etc), runs check and run on that copy, and passes
// systemd-analyze verify where systemd is installed (the binary path pointed at an
// executable that exists here).
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "hashgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	for k, want := range map[string]string{
		"DynamicUser":    "yes",
		"LoadCredential": "hashgate.toml:/etc/hashgate/hashgate.toml",
		"ExecStartPre":   "/usr/local/bin/hashgate check -c %d/hashgate.toml",
		"ExecStart":      "/usr/local/bin/hashgate run -c %d/hashgate.toml",
		"StateDirectory": "hashgate",
		"ProtectSystem":  "strict",
	} {
		if !slices.Equal(unit[k], []string{want}) {
			t.Errorf("%s=%v, want %s", k, unit[k], want)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "hashgate.service")
	if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/hashgate", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", f).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
