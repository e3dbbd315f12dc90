package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestConsoleShowsHoldsAndProof runs hashgate (proxy, power controller with its policy
// runner, console) and reads the console's worker rows over HTTP: a hashing miner is proven
// by its shares, a session that never submits is not; an operator's pause from the console is
// an operator hold (for a policy-controlled miner the policy then pauses it too and holds its
// gate as well), and a resume lifts it.
func TestConsoleShowsHoldsAndProof(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token = "hg_e2e_admin_token"
	f.Console.Tokens = []console.TokenConfig{{Name: "e2e", TokenHash: console.HashToken(token), Role: console.RoleAdmin}}
	f.Console.UpdateInterval = console.Duration(200 * time.Millisecond)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.MinRun, p.MinPause = 0, policy.Duration(time.Second)
	p.RestoreInterval = policy.Duration(time.Second)
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, w := range []string{"rack1.a", "lab.bench"} { // lab.bench matches no fleet group
		go miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: w, HashRate: 50000}).Run(ctx)
	}
	// rack1.idle authorizes and never submits a share.
	idle, err := net.Dial("tcp", a.Addrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, `{"id":1,"method":"mining.subscribe","params":["silent/1.0"]}`+"\n"+
		`{"id":2,"method":"mining.authorize","params":["rack1.idle","x"]}`+"\n"); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, idle)

	base := "http://" + a.ConsoleAddr.String()
	call := func(method, path string) []byte {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		return b
	}
	rows := func() map[string]console.WorkerRow {
		var res struct{ Workers []console.WorkerRow }
		if err := json.Unmarshal(call("GET", "/api/v1/workers"), &res); err != nil {
			t.Fatal(err)
		}
		out := map[string]console.WorkerRow{}
		for _, r := range res.Workers {
			out[r.Worker] = r
		}
		return out
	}
	// await polls the console until worker's row satisfies cond; it fails with the last row.
	await := func(what, worker string, cond func(r console.WorkerRow) bool) console.WorkerRow {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			r, ok := rows()[worker]
			if ok && cond(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s: %+v", what, r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	is := func(state string, holds []string, proven bool, proof string) func(console.WorkerRow) bool {
		return func(r console.WorkerRow) bool {
			return r.State == state && slices.Equal(r.Holds.Reasons(), holds) && r.Proven == proven && r.Proof == proof
		}
	}
	await("rack1.a running, proven by a share", "rack1.a", is("running", nil, true, "share"))
	if r := await("rack1.idle open and unproven", "rack1.idle", is("running", nil, false, "none")); r.PowerSource == "" {
		t.Fatalf("the policy does not know the silent session: %+v", r)
	}

	call("POST", "/api/v1/workers/lab.bench/pause")
	await("lab.bench held by the operator alone", "lab.bench", is("paused", []string{"operator"}, false, "none"))

	call("POST", "/api/v1/workers/rack1.a/pause")
	await("rack1.a held by the operator and paused by the policy", "rack1.a", is("paused", []string{"policy", "operator"}, true, "held"))
	call("POST", "/api/v1/workers/rack1.a/resume")
	await("rack1.a restored", "rack1.a", func(r console.WorkerRow) bool {
		return r.State == "running" && r.Holds == "" && r.Proven
	})
	call("POST", "/api/v1/workers/lab.bench/resume")
	await("lab.bench open", "lab.bench", is("running", nil, false, "none"))
}

// BenchmarkConsoleGates10k is the wiring's share of the console's per-second read of 10,000
// workers' gates (power.BenchmarkGates10k is the Controller's): one in ten held.
func BenchmarkConsoleGates10k(b *testing.B) {
	gs := make(map[string]power.Gate, 10000)
	for k := range 10000 {
		g := power.Gate{Proof: power.ProofShare}
		if k%10 == 0 {
			g = power.Gate{Holds: power.HoldPolicy | power.HoldOperator, Proof: power.ProofHeld}
		}
		gs[fmt.Sprintf("w%05d", k)] = g
	}
	b.ReportAllocs()
	for b.Loop() {
		if out := consoleGates(gs); len(out) != 10000 || out["w00010"].Holds != "policy,operator" {
			b.Fatal(out["w00010"])
		}
	}
}
