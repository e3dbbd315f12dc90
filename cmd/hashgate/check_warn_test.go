package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckWarnsOfOrdersCutShort: a clustered site on the defaults gives a leader's order
// stale_after - lease_ttl = 7 s at its owner, less than apply_timeout (30 s): every order to
// stock Antminer firmware (~21 s) would fail. `hashgate check` still passes the file (firmware
// that answers quickly is served) but says so, naming the keys and the values that fix it;
// with stale_after raised, or no firmware to call, there is no warning.
func TestCheckWarnsOfOrdersCutShort(t *testing.T) {
	dir := t.TempDir()
	base := siteConfig(dir, "127.0.0.1:1", "127.0.0.1:0", "") + "[policy]\nimport_limit_kw = 100\n"
	fleet := func(fw string) string {
		return "[[fleet]]\nname = \"rack\"\nmatch = \"rack.*\"\nfirmware = \"" + fw + "\"\nrated_kw = 3.2\nefficiency_j_th = 34.0\npriority = 1\n"
	}
	const cl = "[cluster]\nsite = \"s\"\nnats_url = \"nats://127.0.0.1:4222\"\n"
	for name, tc := range map[string]struct {
		text string
		warn bool
	}{
		"defaults":        {fleet("antminer") + cl, true},
		"stale_after 35s": {fleet("antminer") + cl + "stale_after = \"35s\"\n", false},
		// Gating job delivery is all the policy does there: nothing slow to call.
		"firmware none": {fleet("none") + cl, false},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
		if err := os.WriteFile(path, []byte(base+tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := hashgate(t, "check", "-c", path)
		if code != 0 || !strings.Contains(out, ": ok (") {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want ok", name, code, out, errOut)
		}
		warned := strings.Contains(out, "warning: cluster.stale_after: ")
		if warned != tc.warn {
			t.Fatalf("%s: stdout %q; warning wanted %v", name, out, tc.warn)
		}
		if tc.warn {
			for _, key := range []string{"cluster.lease_ttl", "policy.apply_timeout", "set stale_after to at least 33s"} {
				if !strings.Contains(out, key) {
					t.Errorf("%s: warning %q does not name %q", name, out, key)
				}
			}
		}
	}
}

// TestCheckWarnsOfUntrustedFleetReadings: a group with firmware that matches by worker name
// alone, with neither networks nor addresses, vouches for no miner: its firmware readings are
// shown but neither prove a miner nor count as its draw. That validates (no login is sent),
// but `hashgate check` says so, naming fleet[i].networks; with networks there is no warning.
func TestCheckWarnsOfUntrustedFleetReadings(t *testing.T) {
	dir := t.TempDir()
	base := siteConfig(dir, "127.0.0.1:1", "127.0.0.1:0", "") + "[policy]\nimport_limit_kw = 100\n"
	group := "[[fleet]]\nname = \"bench\"\nmatch = \"bench.*\"\nfirmware = \"luxos\"\nrated_kw = 3.2\nefficiency_j_th = 34.0\npriority = 1\n"
	for name, tc := range map[string]struct {
		text string
		warn bool
	}{
		"by name":       {group, true},
		"with networks": {group + "networks = [\"10.9.0.0/24\"]\n", false},
		"by ip prefix":  {strings.Replace(group, `"bench.*"`, `"10.9.0.0/24"`, 1), false},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
		if err := os.WriteFile(path, []byte(base+tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := hashgate(t, "check", "-c", path)
		if code != 0 || !strings.Contains(out, ": ok (") {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want ok", name, code, out, errOut)
		}
		warned := strings.Contains(out, `warning: fleet[0].networks: group "bench" matches by worker name alone`)
		if warned != tc.warn {
			t.Fatalf("%s: stdout %q; warning wanted %v", name, out, tc.warn)
		}
	}
}
