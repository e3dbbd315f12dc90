package firmware

import "testing"

func TestTargetHostPort(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"10.0.0.7", "10.0.0.7:4028"},
		{"10.0.0.7:14028", "10.0.0.7:14028"},
		{"::1", "[::1]:4028"},
		{"[fe80::1]:4028", "[fe80::1]:4028"},
		{"miner-7.site", "miner-7.site:4028"},
	} {
		if got := (Target{Addr: c.addr}).hostPort(4028); got != c.want {
			t.Errorf("hostPort(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}
