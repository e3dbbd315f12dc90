package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
)

// BenchmarkShed10k measures the control path for a 10,000-miner fleet: from the meter reading
// that crosses the import limit to every miner's gate closed at the proxy and its firmware
// command handed to the actuator. The firmware's own network round trip and ramp come on top
// (see the firmware dispatcher benchmark).
func BenchmarkShed10k(b *testing.B) {
	const n = 10000
	cfg := proxy.DefaultConfig()
	cfg.Pools = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://127.0.0.1:1", User: "u"}}
	px, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		pc := policy.DefaultConfig()
		pc.ImportLimitKW, pc.MarginKW = 40000, 100
		pc.MaxParallel = 10000
		pc.Interval = policy.Duration(5 * time.Second)
		var applied atomic.Int64
		done := make(chan struct{})
		act := policy.ActuatorFunc(func(ctx context.Context, d policy.Decision) error {
			if d.Action == policy.ActionPause {
				px.Pause(d.MinerID)
			}
			if applied.Add(1) == n {
				close(done)
			}
			return nil
		})
		r, err := policy.NewRunner(pc, policy.RunnerOptions{Actuator: act})
		if err != nil {
			b.Fatal(err)
		}
		g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "luxos", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
		for k := 0; k < n; k++ {
			m := g.NewMiner(fmt.Sprintf("w%05d", k), fmt.Sprintf("w%05d", k))
			m.Commanded = policy.Command{Action: policy.ActionRun, TargetKW: 3.5, Since: time.Now().Add(-time.Hour)}
			r.UpsertMiner(m)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go r.Run(ctx)
		// Site import far over the limit with no mining sub-meter: shed everything.
		r.Observe(policy.Reading{Role: policy.RoleAILoad, Value: 39990, At: time.Now()})
		b.StartTimer()
		start := time.Now()
		r.Observe(policy.Reading{Role: policy.RoleSiteImport, Value: 39990 + 35000, At: time.Now()})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("only %d of %d miners commanded", applied.Load(), n)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/shed")
		b.StopTimer()
		cancel()
	}
}
