package app

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/store"
)

// TestPoolWeightEditedFromTheConsole: a pool's weight is set from the console's REST API like
// its priority: the split between pools of one priority re-plans when the edit answers (both
// rows active, the shares then reaching both pools), nothing is redialled nor any miner
// reconnected, a bad weight is refused naming the key and stores nothing, every change is
// audited with the weight before and after, and a restart runs the edited weights.
func TestPoolWeightEditedFromTheConsole(t *testing.T) {
	spA, addrA := startTestPool(t)
	spB, addrB := startTestPool(t)
	f := poolsFile(t, addrA)
	var logs lockedBuffer
	a := startPoolsAppLog(t, &f, zerolog.New(&logs))

	ms, stopMiners := runMiners(a, "rack2.a", "rack2.b", "rack2.c", "rack2.d")
	defer stopMiners()
	waitFor(t, "shares at pool p", func() bool { return spA.Accepted() >= 2 })

	// b at p's priority with a weight: alone weighted, it takes no part yet.
	admin(t, a, "POST", "/api/v1/pools", `{"name":"b","url":"stratum+tcp://`+addrB+`","user":"acct","priority":0,"weight":3}`)
	waitFor(t, "pool b up", func() bool { st, _ := poolRowOf(a, "b"); return st.State == "up" })
	if p, _ := poolRowOf(a, "p"); !p.Active || p.Weight != 0 {
		t.Fatalf("p before the edit: %+v", p)
	}
	if b, _ := poolRowOf(a, "b"); b.Active || b.Weight != 3 {
		t.Fatalf("b with the only weight: active %v weight %v", b.Active, b.Weight)
	}
	pAccepted, _ := poolRowOf(a, "p")

	admin(t, a, "PUT", "/api/v1/pools/p", `{"weight":1}`)
	p, _ := poolRowOf(a, "p")
	b, _ := poolRowOf(a, "b")
	if !p.Active || !b.Active || p.Weight != 1 || b.Weight != 3 {
		t.Fatalf("after weight 1 on p: p active %v weight %v, b active %v weight %v", p.Active, p.Weight, b.Active, b.Weight)
	}
	atB := spB.Accepted()
	waitFor(t, "the split's shares at b", func() bool { return spB.Accepted() >= atB+2 })
	if p.Shares["accepted"] < pAccepted.Shares["accepted"] || spA.Connections() != 1 {
		t.Fatalf("p redialled: accepted %d (was %d), %d connections at its pool", p.Shares["accepted"], pAccepted.Shares["accepted"], spA.Connections())
	}

	const js = "application/json"
	for _, c := range []struct{ body, says string }{
		{`{"weight":-1}`, "pool.weight: must be a finite number"},
		{`{"weight":"x"}`, "weight"},
		{`{"weight":1e999}`, "weight"},
		{`{"weight":null}`, "nothing to change"},
	} {
		if code, body := send(t, a, "PUT", "/api/v1/pools/p", poolAdminToken, js, c.body); code != http.StatusBadRequest || !strings.Contains(body, c.says) {
			t.Errorf("PUT %s: %d %s, want 400 %q", c.body, code, body, c.says)
		}
	}
	if code, body := send(t, a, "POST", "/api/v1/pools", poolAdminToken, js, `{"name":"c","url":"stratum+tcp://127.0.0.1:1","user":"u","weight":-0.5}`); code != http.StatusBadRequest || !strings.Contains(body, "pool.weight:") {
		t.Errorf("add with weight -0.5: %d %s", code, body)
	}
	if p, _ := poolRowOf(a, "p"); p.Weight != 1 || poolNames(a) != "p,b" {
		t.Fatalf("refused edits changed the pools: p weight %v, pools %s", p.Weight, poolNames(a))
	}

	// Weight 0 takes b out: the split ends when the edit answers, p mines alone.
	admin(t, a, "PUT", "/api/v1/pools/b", `{"weight":0}`)
	if b, _ := poolRowOf(a, "b"); b.Active {
		t.Fatal("b at weight 0 still active")
	}
	admin(t, a, "PUT", "/api/v1/pools/b", `{"weight":6}`)
	if b, _ := poolRowOf(a, "b"); !b.Active || b.Weight != 6 {
		t.Fatalf("b back at weight 6: %+v", b)
	}
	if s := logs.String(); strings.Contains(s, "pool closed by a console edit") || strings.Count(s, `"message":"pool weight changed"`) != 3 {
		t.Fatalf("weight edits logged otherwise than as three weight changes without a redial:\n%s", s)
	}
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("%s reconnected for a weight edit", m.Worker())
		}
	}

	// The audit trail: each weight before and after.
	es, err := a.Store.Events(context.Background(), store.EventQuery{Kind: KindPoolEdit})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		var d poolChange
		if err := json.Unmarshal(e.Detail, &d); err != nil || d.Before == nil || d.After == nil {
			t.Fatalf("edit detail %s (%v)", e.Detail, err)
		}
		got = append(got, e.Subject+" "+strconv.FormatFloat(d.Before.Weight, 'g', -1, 64)+"->"+strconv.FormatFloat(d.After.Weight, 'g', -1, 64)+" by "+e.Actor)
	}
	slices.Sort(got)
	want := []string{"b 0->6 by token:ops", "b 3->0 by token:ops", "p 0->1 by token:ops"}
	if !slices.Equal(got, want) {
		t.Fatalf("audited weight edits %q, want %q", got, want)
	}

	// Restart on the same store and file: the edited weights run.
	stopMiners()
	a.Close()
	a2 := startPoolsApp(t, &f)
	pcs := a2.Proxy.PoolConfigs()
	if len(pcs) != 2 || pcs[0].Name != "p" || pcs[0].Weight != 1 || pcs[1].Weight != 6 {
		t.Fatalf("pools after restart: %+v", pcs)
	}
	waitFor(t, "both pools active in the split after the restart", func() bool {
		p, _ := poolRowOf(a2, "p")
		b, _ := poolRowOf(a2, "b")
		return p.Active && b.Active
	})
}
