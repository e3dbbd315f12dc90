package cluster

import (
	"bytes"
	"testing"
)

// roundTrip checks the decoders' property: what decodes re-encodes, and decodes again to the
// same bytes.
func roundTrip[M Message](t *testing.T, b []byte, dec func([]byte) (M, error)) {
	m, err := dec(b)
	if err != nil {
		return
	}
	b1, err := Encode(m)
	if err != nil {
		t.Fatalf("decoded message does not encode: %v", err)
	}
	m2, err := dec(b1)
	if err != nil {
		t.Fatalf("re-encoded message does not decode: %v\n%s", err, b1)
	}
	b2, _ := Encode(m2)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("not stable:\n%s\n%s", b1, b2)
	}
}

func seed(f *testing.F, ms ...Message) {
	for _, m := range ms {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
}

func FuzzInventory(f *testing.F) {
	seed(f, goodInventory(), &Inventory{Instance: "a", Boot: 1, Seq: 2, Full: true, Snap: 1, Parts: 1})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeInventory) })
}

func FuzzOrder(f *testing.F) {
	seed(f, &Order{Epoch: 9, Leader: "b", TimeoutMS: 5000, Decision: Decided{MinerID: "m", Action: 2, FromKW: 3.5}})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeOrder) })
}

func FuzzPlan(f *testing.F) {
	seed(f, &Plan{Epoch: 9, Leader: "b", Decisions: []Decided{{MinerID: "m", Action: 1, TargetKW: 3.5}}})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodePlan) })
}

func FuzzBatch(f *testing.F) {
	seed(f, &Batch{Epoch: 9, Leader: "b", Owner: "a", TimeoutMS: 5000, Decisions: []Decided{
		{MinerID: "m1", Action: 2, FromKW: 3.5}, {MinerID: "m2", Group: "g", Action: 3, TargetKW: 1.5, FromKW: 3.5, Reason: 2}}},
		&BatchReply{Epoch: 9, Results: []Result{{MinerID: "m1"}, {MinerID: "m2", Err: "x"}}}, &BatchReply{Epoch: 9, Err: "cluster: stale epoch"})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, DecodeBatch)
		roundTrip(t, b, DecodeBatchReply)
	})
}

func FuzzReadings(f *testing.F) {
	seed(f, &Readings{Instance: "a", Readings: []MeterReading{{Role: 1, Value: 800, At: at}, {Role: 2, Fault: true, At: at}}})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeReadings) })
}

func FuzzTelemetry(f *testing.F) {
	seed(f, &Telemetry{Instance: "a", Power: []PowerSample{{ID: "m", KW: 3.2, At: at}}})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, DecodeTelemetry) })
}

func FuzzHeartbeatReply(f *testing.F) {
	seed(f, &Heartbeat{Epoch: 4, Leader: "b"}, &Reply{Epoch: 4, Err: "x"})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, DecodeHeartbeat)
		roundTrip(t, b, DecodeReply)
	})
}
