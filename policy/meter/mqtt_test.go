package meter_test

import (
	"context"
	"testing"

	"github.com/hashgate/hashgate/internal/testpeer"
	"github.com/hashgate/hashgate/policy/meter"
	simmeter "github.com/hashgate/hashgate/sim/meter"
)

func publisher(t *testing.T, broker, id string) *simmeter.Publisher {
	t.Helper()
	p, err := simmeter.NewPublisher(simmeter.PublisherConfig{Broker: broker, ClientID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func mqttMeter(t *testing.T, broker, topic string, mut func(*meter.Config)) meter.Source {
	t.Helper()
	cfg := meter.Config{Name: "mq", Role: meter.RoleAILoad, Source: meter.KindMQTT, Broker: broker, Topic: topic,
		Interval: meter.Duration(meter.MinInterval)}
	if mut != nil {
		mut(&cfg)
	}
	src, err := meter.New(cfg, zerologNop())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// publishUntil republishes until the source reports a matching reading: the subscription
// may not be in place when the first message goes out, and MQTT does not queue for it.
func publishUntil(t *testing.T, p *simmeter.Publisher, topic string, shape simmeter.Shape, watts float64, out <-chan meter.Reading, ok func(meter.Reading) bool) meter.Reading {
	t.Helper()
	for range 400 {
		if err := p.Publish(topic, shape, watts); err != nil {
			t.Logf("publish: %v", err)
		}
		if r := waitAny(out); r != nil && ok(*r) {
			return *r
		}
	}
	t.Fatalf("no matching reading for %v W as %s", watts, shape)
	return meter.Reading{}
}

// waitAny waits briefly for the next reading, so publishUntil paces itself on the broker.
func waitAny(out <-chan meter.Reading) *meter.Reading {
	select {
	case r := <-out:
		return &r
	case <-pacer():
		return nil
	}
}

func TestMQTTShapes(t *testing.T) {
	broker := testpeer.StartMosquitto(t)
	p := publisher(t, broker, "pub-shapes")
	for _, shape := range simmeter.Shapes {
		t.Run(string(shape), func(t *testing.T) {
			topic := "site/" + string(shape)
			out := run(t, mqttMeter(t, broker, topic, nil))
			publishUntil(t, p, topic, shape, 4321.5, out, good(4.3215))
		})
	}
}

func TestMQTTJSONPathAndUnits(t *testing.T) {
	broker := testpeer.StartMosquitto(t)
	p := publisher(t, broker, "pub-path")
	out := run(t, mqttMeter(t, broker, "site/price", func(c *meter.Config) {
		c.Role, c.JSONPath, c.Unit = meter.RolePrice, "price.now", "EUR/MWh"
	}))
	for range 400 {
		if err := p.PublishRaw("site/price", []byte(`{"price":{"now":87.5,"next":90}}`)); err != nil {
			t.Fatal(err)
		}
		if r := waitAny(out); r != nil && r.OK() {
			if r.Value != 87.5 || r.Role != meter.RolePrice {
				t.Fatalf("got %+v", r)
			}
			return
		}
	}
	t.Fatal("no price reading")
}

func TestMQTTGarbage(t *testing.T) {
	broker := testpeer.StartMosquitto(t)
	p := publisher(t, broker, "pub-garbage")
	src := mqttMeter(t, broker, "site/grid", func(c *meter.Config) { c.Format = meter.FormatShelly; c.Unit = "kW" })
	out := run(t, src)
	publishUntil(t, p, "site/grid", simmeter.ShapeShellyEM, 12, out, good(12))
	for _, bad := range []string{`{"total_act_power":`, `{"total_act_power":"NaN"}`, `{"id":0}`, "\xff\xfe", `[]`} {
		if err := p.PublishRaw("site/grid", []byte(bad)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, out, "invalid for "+bad, quality(meter.QualityInvalid, nil))
	}
	// A notification about something else is skipped, then a good value still arrives.
	if err := p.PublishRaw("site/grid", []byte(`{"method":"NotifyStatus","params":{"temperature:0":{"tC":41}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish("site/grid", simmeter.ShapeShellyEM, 13); err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, out, "good after garbage", func(r meter.Reading) bool { return true }); !r.OK() || r.Value != 13 {
		t.Fatalf("got %+v, want 13 kW (the notification must be skipped silently)", r)
	}
	if st := src.Stats(); st.Invalid != 5 {
		t.Fatalf("stats %+v, want 5 invalid", st)
	}
}

func TestMQTTBrokerRestart(t *testing.T) {
	m := testpeer.NewMosquitto(t)
	src := mqttMeter(t, m.URL(), "site/grid", nil)
	out := run(t, src)
	p := publisher(t, m.URL(), "pub-restart")
	publishUntil(t, p, "site/grid", simmeter.ShapeNumber, 1000, out, good(1))
	m.Stop()
	waitFor(t, out, "unavailable after broker loss", quality(meter.QualityUnavailable, meter.ErrUnavailable))
	m.Start()
	// The publisher reconnects on its own too; a failed publish while it does is retried.
	publishUntil(t, p, "site/grid", simmeter.ShapeNumber, 2000, out, good(2))
	if st := src.Stats(); st.Reconnects == 0 {
		t.Fatalf("stats %+v, want a reconnect", st)
	}
}

// TestMQTTNoBrokerStops: a source still retrying its first connection stops on cancel.
func TestMQTTNoBrokerStops(t *testing.T) {
	m := testpeer.NewMosquitto(t)
	m.Stop()
	src := mqttMeter(t, m.URL(), "site/grid", nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan meter.Reading, 1)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(out) // safe: nothing may send after Run returns
}
