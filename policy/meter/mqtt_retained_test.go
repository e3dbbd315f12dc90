package meter_test

import (
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hashgate/hashgate/internal/testpeer"
	"github.com/hashgate/hashgate/policy/meter"
)

// retain publishes payload on topic as the broker's retained message, as a meter that
// publishes retained does before it dies.
func retain(t *testing.T, broker, id, topic, payload string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(hangGuard) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Publish(topic, 1, true, []byte(payload)); !tok.WaitTimeout(hangGuard) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	return c
}

// TestMQTTRetainedIsNotAFreshReading: a retained message is the broker's copy of whatever the
// meter said last, however long ago, re-sent on every subscribe. Without a timestamp of its
// own it is no reading at all (dated now, a dead meter would look fresh after each broker
// reconnect); the live values after it are readings as usual. A retained Shelly NotifyStatus
// keeps its own "ts", so the engine judges its age.
func TestMQTTRetainedIsNotAFreshReading(t *testing.T) {
	broker := testpeer.StartMosquitto(t)

	t.Run("plain number", func(t *testing.T) {
		c := retain(t, broker, "pub-retained", "site/grid", "1234.5")
		out := run(t, mqttMeter(t, broker, "site/grid", nil))
		// Live values until one arrives: the subscription is then in place, and the retained
		// value, delivered on subscribe before any live one, would have come first.
		for range 400 {
			if tok := c.Publish("site/grid", 1, false, []byte("42")); !tok.WaitTimeout(hangGuard) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			r := waitAny(out)
			if r == nil {
				continue
			}
			if r.OK() && r.Value == 1.2345 {
				t.Fatalf("retained value delivered as a good reading dated %s", r.At.Format(time.RFC3339Nano))
			}
			if r.OK() && r.Value == 0.042 {
				return
			}
		}
		t.Fatal("no live reading after the retained one")
	})
	t.Run("shelly with ts", func(t *testing.T) {
		ts := time.Now().Add(-time.Hour).Truncate(time.Second)
		retain(t, broker, "pub-retained-shelly", "site/shelly", `{"src":"s","method":"NotifyStatus","params":{"ts":`+
			strconv.FormatInt(ts.Unix(), 10)+`,"em:0":{"total_act_power":1500}}}`)
		out := run(t, mqttMeter(t, broker, "site/shelly", func(c *meter.Config) { c.Format = meter.FormatShelly }))
		r := waitFor(t, out, "from the retained Shelly status", func(r meter.Reading) bool { return r.OK() })
		if r.Value != 1.5 || !r.At.Equal(ts) {
			t.Fatalf("retained Shelly status: %v kW at %s, want 1.5 kW at its ts %s", r.Value, r.At, ts)
		}
	})
}
