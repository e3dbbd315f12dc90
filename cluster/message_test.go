package cluster

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

var at = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func goodInventory() *Inventory {
	return &Inventory{Instance: "hall-a", Boot: 7, Seq: 3, Gen: 1, Miners: []MinerView{{
		ID: "rack1.m1", Worker: "rack1.m1", Group: "rack1", Priority: 1, RatedKW: 3.5, EfficiencyJTH: 17.5,
		ThrottleMinKW: 1.5, ThrottleMaxKW: 3.5, RampMS: 10000, Proven: true,
		Commanded: Command{Action: Action(policy.ActionThrottle), TargetKW: 2, Since: at}}}, Removed: []string{"rack1.m2"}}
}

// Every message survives encode -> decode unchanged.
func TestMessagesRoundTrip(t *testing.T) {
	msgs := []struct {
		m   Message
		dec func([]byte) (Message, error)
	}{
		{goodInventory(), func(b []byte) (Message, error) { return DecodeInventory(b) }},
		{&Telemetry{Instance: "a", Power: []PowerSample{{ID: "m", KW: 3.2, At: at}}}, func(b []byte) (Message, error) { return DecodeTelemetry(b) }},
		{&Readings{Instance: "a", Readings: []MeterReading{ReadingOf(policy.Reading{Role: policy.RoleSiteImport, Value: 812.5, At: at}), ReadingOf(policy.Reading{Role: policy.RoleAILoad, Value: math.NaN(), At: at})}}, func(b []byte) (Message, error) { return DecodeReadings(b) }},
		{&Order{Epoch: 9, Leader: "b", TimeoutMS: 5000, Decision: Decided{MinerID: "m", Group: "g", Action: Action(policy.ActionPause), FromKW: 3.5, Reason: Reason(policy.ReasonImportLimit)}}, func(b []byte) (Message, error) { return DecodeOrder(b) }},
		{&Plan{Epoch: 9, Leader: "b", Decisions: []Decided{{MinerID: "m", Action: Action(policy.ActionRun), TargetKW: 3.5}}}, func(b []byte) (Message, error) { return DecodePlan(b) }},
		{&Reply{Epoch: 9, Err: "cluster: stale epoch"}, func(b []byte) (Message, error) { return DecodeReply(b) }},
		{&Heartbeat{Epoch: 9, Leader: "b"}, func(b []byte) (Message, error) { return DecodeHeartbeat(b) }},
	}
	for _, c := range msgs {
		b, err := Encode(c.m)
		if err != nil {
			t.Fatalf("%T: %v", c.m, err)
		}
		got, err := c.dec(b)
		if err != nil {
			t.Fatalf("%T: %v (%s)", c.m, err, b)
		}
		b2, _ := Encode(got)
		if !bytes.Equal(b, b2) {
			t.Fatalf("%T changed:\n%s\n%s", c.m, b, b2)
		}
	}
	// A faulty reading comes back as NaN: the engine's meter fault, not a zero import.
	r, _ := DecodeReadings([]byte(`{"instance":"a","readings":[{"role":"site_import","value":0,"fault":true,"at":"2026-06-01T12:00:00Z"}]}`))
	if v := r.Readings[0].Reading().Value; !math.IsNaN(v) {
		t.Fatalf("fault reading decoded as %v", v)
	}
	// The view keeps everything the engine uses.
	m := goodInventory().Miners[0].Miner()
	if m.Throttle.MinKW != 1.5 || m.Ramp != 10*time.Second || !m.Proven || m.Commanded.Action != policy.ActionThrottle || !m.Commanded.Since.Equal(at) {
		t.Fatalf("view lost fields: %+v", m)
	}
	if ViewOf(m) != goodInventory().Miners[0] {
		t.Fatalf("ViewOf(Miner()) differs: %+v", ViewOf(m))
	}
}

// What a broken or hostile peer may send is refused whole with ErrBadMessage.
func TestMessagesRefuseHostileInput(t *testing.T) {
	many := `{"instance":"a","boot":1,"seq":1,"miners":[` + strings.Repeat(`{"id":"m","group":"g","rated_kw":1,"efficiency_j_th":1,"commanded":{"action":"run"}},`, MaxMinersPerMessage) +
		`{"id":"m","group":"g","rated_kw":1,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`
	cases := []struct {
		name string
		dec  func([]byte) error
		in   string
	}{
		{"inventory not json", decInv, `{"instance":`},
		{"inventory trailing data", decInv, `{"instance":"a","boot":1,"seq":1}{"x":1}`},
		{"inventory instance with a dot (subject injection)", decInv, `{"instance":"a.b","boot":1,"seq":1}`},
		{"inventory unknown action", decInv, `{"instance":"a","seq":1,"miners":[{"id":"m","group":"g","rated_kw":1,"efficiency_j_th":1,"commanded":{"action":"explode"}}]}`},
		{"inventory zero rated_kw", decInv, `{"instance":"a","seq":1,"miners":[{"id":"m","group":"g","rated_kw":0,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`},
		{"inventory negative rated_kw", decInv, `{"instance":"a","seq":1,"miners":[{"id":"m","group":"g","rated_kw":-3,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`},
		{"inventory huge number", decInv, `{"instance":"a","seq":1,"miners":[{"id":"m","group":"g","rated_kw":1e999,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`},
		{"inventory empty miner id", decInv, `{"instance":"a","seq":1,"miners":[{"id":"","group":"g","rated_kw":1,"efficiency_j_th":1,"commanded":{"action":"run"}}]}`},
		{"inventory throttle range inverted", decInv, `{"instance":"a","seq":1,"miners":[{"id":"m","group":"g","rated_kw":3,"efficiency_j_th":1,"throttle_min_kw":3,"throttle_max_kw":1,"commanded":{"action":"run"}}]}`},
		{"inventory too many miners", decInv, many},
		{"inventory snapshot part beyond parts", decInv, `{"instance":"a","seq":1,"full":true,"snap":1,"part":2,"parts":2}`},
		{"inventory delta with parts", decInv, `{"instance":"a","seq":1,"parts":2}`},
		{"inventory oversize", decInv, `{"instance":"a","pad":"` + strings.Repeat("x", MaxMessage) + `"}`},
		{"order epoch 0", decOrder, `{"epoch":0,"leader":"b","timeout_ms":100,"decision":{"miner":"m","action":"pause","target_kw":0,"from_kw":1}}`},
		{"order without action", decOrder, `{"epoch":3,"leader":"b","timeout_ms":100,"decision":{"miner":"m","action":"unknown","target_kw":0,"from_kw":1}}`},
		{"order negative target", decOrder, `{"epoch":3,"leader":"b","timeout_ms":100,"decision":{"miner":"m","action":"throttle","target_kw":-1,"from_kw":1}}`},
		{"order timeout beyond 10 min", decOrder, `{"epoch":3,"leader":"b","timeout_ms":99999999,"decision":{"miner":"m","action":"pause","target_kw":0,"from_kw":1}}`},
		{"order wrong type", decOrder, `{"epoch":"3","leader":"b","timeout_ms":100,"decision":{"miner":"m","action":"pause"}}`},
		{"plan epoch 0", decPlan, `{"epoch":0,"leader":"b","decisions":[]}`},
		{"heartbeat no leader", decHB, `{"epoch":4,"leader":""}`},
		{"readings unknown role", decRead, `{"instance":"a","readings":[{"role":"moon","value":1,"at":"2026-06-01T12:00:00Z"}]}`},
		{"readings without time", decRead, `{"instance":"a","readings":[{"role":"site_import","value":1}]}`},
		{"telemetry negative kW", decTel, `{"instance":"a","power":[{"id":"m","kw":-1,"at":"2026-06-01T12:00:00Z"}]}`},
		{"reply error too long", decReply, `{"epoch":1,"err":"` + strings.Repeat("e", 5000) + `"}`},
	}
	for _, c := range cases {
		if err := c.dec([]byte(c.in)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: got %v, want ErrBadMessage", c.name, err)
		}
	}
	// Nothing invalid is ever sent either.
	if _, err := Encode(&Heartbeat{}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("encoded an invalid heartbeat: %v", err)
	}
}

func decInv(b []byte) error   { _, err := DecodeInventory(b); return err }
func decOrder(b []byte) error { _, err := DecodeOrder(b); return err }
func decPlan(b []byte) error  { _, err := DecodePlan(b); return err }
func decHB(b []byte) error    { _, err := DecodeHeartbeat(b); return err }
func decRead(b []byte) error  { _, err := DecodeReadings(b); return err }
func decTel(b []byte) error   { _, err := DecodeTelemetry(b); return err }
func decReply(b []byte) error { _, err := DecodeReply(b); return err }
