package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// splitBackend is the fleet backend with the pool rows of a real proxy.
type splitBackend struct {
	*fleetBackend
	px *proxy.Proxy
}

func (b splitBackend) Pools() []proxy.PoolStats { return b.px.Pools() }

// TestPoolWeightAndAcceptedDifficulty: a real proxy splitting miners 30/70 between two
// simulated pools shows each pool's weight and the difficulty mined for it in
// /api/v1/pools and /metrics, the same numbers in both.
func TestPoolWeightAndAcceptedDifficulty(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := proxy.DefaultConfig()
	for i, w := range []float64{30, 70} {
		pc := simpool.DefaultConfig()
		pc.Difficulty, pc.JobInterval, pc.BlockInterval, pc.Seed = 1e-5, 0, 0, uint64(50+i)
		sp, err := simpool.New(pc)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := sp.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sp.Close)
		cfg.Pools = append(cfg.Pools, proxy.PoolConfig{Name: fmt.Sprintf("p%d", i), URL: "stratum+tcp://" + addr, User: "acct", Weight: w})
	}
	cfg.Difficulty = proxy.DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 600, RetargetEvery: proxy.Duration(time.Minute)}
	px, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	px.Start(ctx)
	t.Cleanup(func() { px.Close() })
	maddr, err := px.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := range 4 {
		m := miner.New(miner.Config{Addr: maddr.String(), Username: fmt.Sprintf("rack1.w%d", i), HashRate: 20000})
		go func() { m.Run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range 4 {
			<-done
		}
	})
	// The miners start split by weight: both pools get work without waiting out a slice.
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := px.Pools()
		if rows[0].AcceptedDifficulty > 0 && rows[1].AcceptedDifficulty > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("both pools never mined: %+v", rows)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ccfg := authConfig()
	ccfg.PublicMetrics = true
	s := newServer(t, ccfg, splitBackend{newFleetBackend(1, false), px})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	code, body, _ := c.do("GET", "/api/v1/pools", "")
	want(t, "pools", code, http.StatusOK, body)
	var rows []struct {
		Name               string  `json:"name"`
		Weight             float64 `json:"weight"`
		AcceptedDifficulty float64 `json:"accepted_difficulty"`
		Active             bool    `json:"active"`
	}
	if err := json.Unmarshal(body, &rows); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(rows) != 2 || rows[0].Weight != 30 || rows[1].Weight != 70 || !rows[0].Active || !rows[1].Active ||
		rows[0].AcceptedDifficulty <= 0 || rows[1].AcceptedDifficulty <= 0 {
		t.Fatalf("pool rows %+v", rows)
	}
	code, body, _ = c.do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, body)
	for i, r := range rows {
		w := regexp.MustCompile(`(?m)^hashgate_pool_weight\{pool="` + r.Name + `"\} (\S+)$`).FindSubmatch(body)
		if w == nil || string(w[1]) != strconv.Itoa([]int{30, 70}[i]) {
			t.Errorf("hashgate_pool_weight for %s: %q", r.Name, w)
		}
		d := regexp.MustCompile(`(?m)^hashgate_pool_accepted_difficulty_total\{pool="` + r.Name + `"\} (\S+)$`).FindSubmatch(body)
		if d == nil {
			t.Fatalf("no hashgate_pool_accepted_difficulty_total for %s", r.Name)
		}
		// Counted on: never below what the API showed a moment before.
		if v, err := strconv.ParseFloat(string(d[1]), 64); err != nil || v < r.AcceptedDifficulty {
			t.Errorf("hashgate_pool_accepted_difficulty_total for %s: %s, API said %v", r.Name, d[1], r.AcceptedDifficulty)
		}
	}
}
