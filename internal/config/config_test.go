package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/power"
)

// TestExampleConfigParses keeps hashgate.example.toml honest: it must parse with no unknown
// key and validate.
func TestExampleConfigParses(t *testing.T) {
	f, err := Load(filepath.Join("..", "..", "hashgate.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Pool) != 2 || f.Pool[1].Name != "backup" || f.Difficulty.Initial != 16384 || f.Proxy.WorkerNames != "passthrough" {
		t.Fatalf("example decoded wrong: %+v", f)
	}
	if f.Policy == nil || f.Policy.ImportLimitKW != 5000 || len(f.Meter) != 3 || len(f.Fleet) != 2 || f.Fleet[1].Addresses["rack2.s19-01"] == "" {
		t.Fatalf("example policy sections decoded wrong: %+v %+v %+v", f.Policy, f.Meter, f.Fleet)
	}
	if f.Power != power.DefaultConfig() {
		t.Fatalf("example [power] is not the defaults it says it is: %+v", f.Power)
	}
	pc := f.ProxyConfig()
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	base := minimalFile
	cases := map[string]string{
		base + "[difficulty]\ninitial = -1\n":                            "difficulty.initial",
		base + "[difficulty]\nsharez_per_minute = 3\n":                   "sharez_per_minute",
		strings.Replace(base, "stratum+tcp", "http", 1):                  "pool[0].url",
		strings.Replace(base, `user = "acct"`, "", 1):                    "pool[0].user",
		strings.Replace(base, `protocol = "sv1"`, `protocol = "sv3"`, 1): "listener[0].protocol",
		base + "[proxy]\nworker_names = \"everyone\"\n":                  "worker_names",
		base + "[log]\nlevel = \"loud\"\n":                               "log.level",
		base + "[store]\npath = \"\"\n":                                  "store.",
		base + "[difficulty\n":                                           "line",
		base + "[power]\nproven_window = \"0s\"\n":                       "power.proven_window",
		base + "[power]\ntelemetry_parallel = 0\n":                       "power.telemetry_parallel",
		base + "[power]\nenergy_queue = 0\n":                             "power.energy_queue",
		base + "[power]\ntelemetry_intervall = \"1s\"\n":                 "telemetry_intervall",
	}
	for text, want := range cases {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %q, got %v", want, err)
		}
	}
	if _, err := Parse(base); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.toml")); !os.IsNotExist(err) {
		t.Fatalf("want not-exist, got %v", err)
	}
}
