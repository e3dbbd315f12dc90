package meter_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/meter"
)

func simMeter(t *testing.T, clk meter.Clock, mut func(*meter.Config)) meter.Source {
	t.Helper()
	cfg := meter.Config{Name: "sim", Role: meter.RoleAILoad, Source: meter.KindSim, Interval: meter.Duration(time.Second),
		Trace: []meter.TracePoint{
			{Offset: meter.Duration(1 * time.Second), Value: 100},
			{Offset: meter.Duration(3 * time.Second), Value: 250},
			{Offset: meter.Duration(4 * time.Second), Value: -20},
		}}
	if mut != nil {
		mut(&cfg)
	}
	src, err := meter.New(cfg, zerologNop(), meter.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// step advances the manual clock once the source has armed its timer, and returns what the
// source sent for the new instant (nothing before the trace's first point).
func step(t *testing.T, clk *meter.ManualClock, out <-chan meter.Reading, d time.Duration) meter.Reading {
	t.Helper()
	clk.BlockUntil(1)
	clk.Advance(d)
	return waitFor(t, out, "after advance", func(meter.Reading) bool { return true })
}

func TestSimTracePlayback(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := meter.NewManualClock(start)
	out := run(t, simMeter(t, clk, nil))
	// t=0 is before the first point: nothing is sent; t=1s..: 100, 100, 250, -20, -20 (held).
	for i, want := range []float64{100, 100, 250, -20, -20, -20} {
		r := step(t, clk, out, time.Second)
		if !r.OK() || r.Value != want || !r.At.Equal(start.Add(time.Duration(i+1)*time.Second)) {
			t.Fatalf("step %d: %+v, want %v", i+1, r, want)
		}
	}
}

func TestSimTraceLoops(t *testing.T) {
	clk := meter.NewManualClock(time.Unix(0, 0))
	out := run(t, simMeter(t, clk, func(c *meter.Config) { c.Loop = true; c.Unit = "W" }))
	// Period = last offset (4s) + interval (1s) = 5s: t=5s wraps to 0 (nothing), t=6s to 1s.
	var got []float64
	for range 7 {
		clk.BlockUntil(1)
		clk.Advance(time.Second)
		if clk.Now().Sub(time.Unix(0, 0))%(5*time.Second) == 0 {
			continue // elapsed wraps before the first point: nothing sent
		}
		got = append(got, waitFor(t, out, "loop", func(meter.Reading) bool { return true }).Value)
	}
	want := []float64{0.1, 0.1, 0.25, -0.02, 0.1, 0.1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (W converted to kW)", got, want)
		}
	}
}

func TestSimTraceFile(t *testing.T) {
	f, err := os.Open("../../testdata/meter/ai_load_step.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := meter.ReadTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 7 || tr[2].Offset.D() != 31*time.Second || tr[2].Value != 4800 {
		t.Fatalf("trace %+v", tr)
	}
	clk := meter.NewManualClock(time.Unix(0, 0))
	out := run(t, simMeter(t, clk, func(c *meter.Config) { c.Trace, c.TraceFile = nil, "../../testdata/meter/ai_load_step.csv" }))
	if r := waitFor(t, out, "t=0", func(meter.Reading) bool { return true }); r.Value != 1200 {
		t.Fatalf("t=0: %+v", r)
	}
	r := step(t, clk, out, 31*time.Second)
	if r.Value != 4800 {
		t.Fatalf("t=31s: %+v", r)
	}
	for _, bad := range []string{"1s", "1s,x", "x,1", "2s,1\n1s,1", "1s,NaN", "-1,5"} {
		if _, err := meter.ReadTrace(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadTrace(%q) accepted", bad)
		}
	}
	if _, err := meter.New(meter.Config{Name: "x", Source: meter.KindSim, TraceFile: "/nonexistent"}, zerologNop()); err == nil {
		t.Fatal("missing trace file accepted")
	}
}

// TestFullConsumerDropsNewest: a consumer that stops reading never blocks a source; what
// cannot be delivered is counted.
func TestFullConsumerDropsNewest(t *testing.T) {
	clk := meter.NewManualClock(time.Unix(0, 0))
	src := simMeter(t, clk, func(c *meter.Config) { c.Trace = []meter.TracePoint{{Value: 1}} })
	out := make(chan meter.Reading, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	for range 5 {
		clk.BlockUntil(1)
		clk.Advance(time.Second)
	}
	clk.BlockUntil(1) // the source is waiting again, so all six samples were handled
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.Good != 2 || st.DroppedFull != 4 || len(out) != 2 {
		t.Fatalf("stats %+v, queued %d", st, len(out))
	}
}
