package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolWeight: [[pool]] weight reaches the proxy's pools as written, the example splits
// nothing by default, and a weight that cannot split time (negative, NaN, infinite) is
// refused at load naming the pool it belongs to.
func TestPoolWeight(t *testing.T) {
	base := `
[[listener]]
protocol = "sv1"
address = "0.0.0.0:3333"
[[pool]]
name = "a"
url = "stratum+tcp://a.example.com:3333"
user = "acct"
weight = 30
[[pool]]
name = "b"
url = "stratum+tcp://b.example.com:3333"
user = "acct"
`
	f, err := Parse(base + "weight = 70.5\n")
	if err != nil {
		t.Fatal(err)
	}
	pc := f.ProxyConfig()
	if pc.Pools[0].Weight != 30 || pc.Pools[1].Weight != 70.5 {
		t.Fatalf("weights %v and %v, want 30 and 70.5", pc.Pools[0].Weight, pc.Pools[1].Weight)
	}
	if f, err = Parse(base); err != nil || f.ProxyConfig().Pools[1].Weight != 0 {
		t.Fatalf("absent weight: %v, %+v", err, f)
	}
	for _, bad := range []string{"-1", "nan", "inf", "-0.5"} {
		_, err := Parse(base + "weight = " + bad + "\n")
		if err == nil || !strings.Contains(err.Error(), "pool[1].weight") {
			t.Errorf("weight = %s: got %v, want an error naming pool[1].weight", bad, err)
		}
	}
	ex, err := Load(filepath.Join("..", "..", "hashgate.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ex.Pool {
		if p.Weight != 0 {
			t.Fatalf("example pool %s has weight %v; the example documents the default 0", p.Name, p.Weight)
		}
	}
}
