package firmware

import (
	"encoding/json"
	"reflect"
	"testing"
)

// checkHardware holds the invariants every hardware reading keeps, whatever
// the miner sent: only hardware fields, fans within MaxFans, no more
// working boards than boards.
func checkHardware(t *testing.T, st Status) {
	t.Helper()
	if st.Known&^HardwareFields != 0 || int(st.FanCount) > MaxFans || st.BoardsWorking > st.BoardsTotal {
		t.Fatalf("bad hardware reading %+v", st)
	}
	if (st.Has(FieldBoardTemp) && !finite(st.BoardTempC)) || (st.Has(FieldChipTemp) && !finite(st.ChipTempC)) {
		t.Fatalf("non-finite temperature reported: %+v", st)
	}
	if st.Known&FieldFans == 0 && st.FanCount != 0 {
		t.Fatalf("fans without FieldFans: %+v", st)
	}
}

// FuzzLuxHardware feeds arbitrary replies to the LuxOS hardware read.
func FuzzLuxHardware(f *testing.F) {
	f.Add([]byte(`{"temps":[{"STATUS":[{"STATUS":"S"}],"TEMPS":[{"ID":0,"Board":61.5,"Chip":77},{"ID":1,"Board":63,"Chip":75}]}],` +
		`"fans":[{"STATUS":[{"STATUS":"S"}],"FANS":[{"ID":0,"RPM":5900},{"ID":1,"RPM":6000}]}],` +
		`"summary":[{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"Elapsed":3600}]}],` +
		`"devs":[{"STATUS":[{"STATUS":"S"}],"DEVS":[{"ASC":0,"Status":"Alive","MHS 5s":6e7},{"ASC":1,"Status":"Dead"}]}],"id":1}`))
	f.Add([]byte(`{"temps":[{"STATUS":[{"STATUS":"E"}]}],"fans":[]}`))
	f.Add([]byte(`{"fans":[{"STATUS":[{"STATUS":"S"}],"FANS":[` + `{"RPM":-5},{"RPM":1e12},{},{},{},{},{},{},{},{}` + `]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeLuxMultiReply(b)
		if err != nil {
			return
		}
		st := r.Hardware()
		checkHardware(t, st)
		// The reading depends on the decoded value only.
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeLuxMultiReply(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if st2 := r2.Hardware(); st2 != st {
			t.Fatalf("hardware differs after round trip: %+v vs %+v", st, st2)
		}
	})
}

// FuzzBraiinsHardware feeds arbitrary protobuf to the three Braiins
// hardware decoders: no panic, decode → encode → decode equal, and the
// reading keeps its invariants.
func FuzzBraiinsHardware(f *testing.F) {
	c := BraiinsCoolingState{FansRPM: []uint64{5800, 0, 6100}, HighestC: 79.5, HasHighestC: true}
	h := BraiinsHashboards{Boards: []BraiinsHashboard{{Enabled: true, ChipC: 78, BoardC: 63, HasChip: true, HasBrd: true, GHs5s: 66000}, {Enabled: false}}}
	d := BraiinsMinerDetails{BosminerUptimeS: 100, SystemUptimeS: 0, HasSystemUptime: true}
	f.Add(c.MarshalProto(), h.MarshalProto(), d.MarshalProto())
	f.Add([]byte{0x0a, 0x02, 0x10}, []byte{0x0a, 0x03, 0x3a, 0x01, 0x09}, []byte{0x50, 0xff})
	f.Fuzz(func(t *testing.T, cb, hb, db []byte) {
		var c BraiinsCoolingState
		var h BraiinsHashboards
		var d BraiinsMinerDetails
		ce, he, de := c.UnmarshalProto(cb), h.UnmarshalProto(hb), d.UnmarshalProto(db)
		if ce == nil {
			var c2 BraiinsCoolingState
			if err := c2.UnmarshalProto(c.MarshalProto()); err != nil || !reflect.DeepEqual(c.FansRPM, c2.FansRPM) ||
				c.HasHighestC != c2.HasHighestC || (c.HasHighestC && !sameFloat(c.HighestC, c2.HighestC)) {
				t.Fatalf("cooling round trip: %v %+v %+v", err, c, c2)
			}
		}
		if he == nil {
			var h2 BraiinsHashboards
			if err := h2.UnmarshalProto(h.MarshalProto()); err != nil || !equalBoards(h, h2) {
				t.Fatalf("hashboards round trip: %v %+v %+v", err, h, h2)
			}
		}
		if de == nil {
			var d2 BraiinsMinerDetails
			if err := d2.UnmarshalProto(d.MarshalProto()); err != nil || d != d2 {
				t.Fatalf("details round trip: %v %+v %+v", err, d, d2)
			}
		}
		if ce == nil && he == nil && de == nil {
			checkHardware(t, braiinsHardware(&c, &h, &d))
		}
	})
}

// equalBoards compares hashboards as the wire carries them: a temperature
// that is absent has no value, and NaN equals NaN.
func equalBoards(a, b BraiinsHashboards) bool {
	if len(a.Boards) != len(b.Boards) {
		return false
	}
	same := sameFloat
	for i := range a.Boards {
		x, y := a.Boards[i], b.Boards[i]
		if x.Enabled != y.Enabled || x.HasChip != y.HasChip || x.HasBrd != y.HasBrd || !same(x.GHs5s, y.GHs5s) ||
			(x.HasChip && !same(x.ChipC, y.ChipC)) || (x.HasBrd && !same(x.BoardC, y.BoardC)) {
			return false
		}
	}
	return true
}

// sameFloat is == with NaN equal to NaN.
func sameFloat(x, y float64) bool { return x == y || (x != x && y != y) }
