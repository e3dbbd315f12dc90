package sv1

import (
	"fmt"
	"reflect"
	"testing"
)

// TestSubmitDecodeReusesStrings: decoding into a Submit that last held the same worker and
// job id allocates nothing; a changed worker or job id (string or numeric) is decoded anew.
func TestSubmitDecodeReusesStrings(t *testing.T) {
	var s Submit
	same := []byte(`["rig.1","4f2a","00000001","6553f100","1a2b3c4d","00002000"]`)
	if err := s.UnmarshalJSON(same); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := s.UnmarshalJSON(same); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per repeated submit, want 0", n)
	}
	for _, c := range []struct{ raw, worker, job string }{
		{`["rig.2","4f2a","00000001","6553f100","1a2b3c4d"]`, "rig.2", "4f2a"},
		{`["rig.2",77,"00000001","6553f100","1a2b3c4d"]`, "rig.2", "77"},
		{`["rig.2",77,"00000001","6553f100","1a2b3c4d"]`, "rig.2", "77"},
		{`["rig.2","77","00000001","6553f100","1a2b3c4d"]`, "rig.2", "77"},
		{`["r\u0069g.2","4f2b","00000001","6553f100","1a2b3c4d"]`, "rig.2", "4f2b"},
		{`["","","00000001","6553f100","1a2b3c4d"]`, "", ""},
	} {
		if err := s.UnmarshalJSON([]byte(c.raw)); err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		if s.Worker != c.worker || s.JobID != c.job {
			t.Fatalf("%s: worker %q job %q, want %q %q", c.raw, s.Worker, s.JobID, c.worker, c.job)
		}
	}
}

// FuzzSubmitReuse: decoding b into a Submit that last decoded a gives what decoding b into a
// new Submit gives, error or value.
func FuzzSubmitReuse(f *testing.F) {
	f.Add(`["w","j","00","01","02"]`, `["w","j","0000","03","04","00002000"]`)
	f.Add(`["w",5,"AB",1,2,null]`, `["w","5","AB",1,2]`)
	f.Add(`["w","j","00","01","02"]`, `["x","j","00","01","02"]`)
	f.Add(`["w\u0041","j","00","01","02"]`, `["wA","j","00","01","02"]`)
	f.Fuzz(func(t *testing.T, a, b string) {
		var reused, fresh Submit
		reused.UnmarshalJSON([]byte(a))
		errR := reused.UnmarshalJSON([]byte(b))
		errF := fresh.UnmarshalJSON([]byte(b))
		if (errR == nil) != (errF == nil) {
			t.Fatalf("reused: %v, fresh: %v", errR, errF)
		}
		if errF != nil {
			if errR.Error() != errF.Error() {
				t.Fatalf("reused: %v, fresh: %v", errR, errF)
			}
			return
		}
		if len(reused.Extranonce2) == 0 && len(fresh.Extranonce2) == 0 {
			reused.Extranonce2, fresh.Extranonce2 = nil, nil
		}
		if !reflect.DeepEqual(reused, fresh) {
			t.Fatalf("reused %+v, fresh %+v", reused, fresh)
		}
	})
}

// TestSubmitUnmarshalShare: the share decoder keeps no worker name, takes the plain form
// without allocating and hands every other form to UnmarshalJSON with the same result.
func TestSubmitUnmarshalShare(t *testing.T) {
	var s Submit
	plain := []byte(`["rig.1","4f2a","00000001","6553f100","1a2b3c4d","00002000"]`)
	if err := s.UnmarshalShare(plain); err != nil {
		t.Fatal(err)
	}
	want := Submit{JobID: "4f2a", Extranonce2: []byte{0, 0, 0, 1}, NTime: 0x6553f100, Nonce: 0x1a2b3c4d, VersionBits: 0x2000, HasVersionBits: true}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	next := []byte(`["rig.2","4f2a","00000002","6553f100","1a2b3c4e"]`)
	if n := testing.AllocsPerRun(100, func() {
		if err := s.UnmarshalShare(next); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per share, want 0", n)
	}
	for _, raw := range []string{
		`[ "rig.1", "4f2a", "00000001", "6553f100", "1a2b3c4d" ]`, // whitespace
		`["rig.1",77,"00000001",1700000000,"1a2b3c4d",null]`,      // numbers and a null
		`["r\u0069g","4f2a","00000001","6553f100","1a2b3c4d"]`,    // an escape
		`["rig.1","4f2a","0001","6553f100"]`,                      // too short
		`["rig.1","4f2a","xyz1","6553f100","1a2b3c4d"]`,           // bad hex
		`["rig.1","4f2a","00000001","6553f100","123456789"]`,      // nonce too long
		`["rig.1","4f2a","00000001","6553f100","1a2b3c4d","00002000","x"]`,
		`["rig.1","4f2a","00000001","6553f100","1a2b3c4d"]]`,
		`{"worker":"rig.1"}`,
	} {
		var a, b Submit
		errA, errB := a.UnmarshalShare([]byte(raw)), b.UnmarshalJSON([]byte(raw))
		if fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("%s: share decoder %v, general decoder %v", raw, errA, errB)
		}
		b.Worker = ""
		if errA == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: share decoder %+v, general decoder %+v", raw, a, b)
		}
	}
}

// FuzzSubmitShare: UnmarshalShare equals UnmarshalJSON (worker aside) on any params, into a
// Submit that last decoded other params.
func FuzzSubmitShare(f *testing.F) {
	f.Add(`["w","j","00","01","02"]`, `["w","j","0000","03","04","00002000"]`)
	f.Add(`["w",5,"AB",1,2,null]`, `["w","5","AB","1","2"]`)
	f.Add(`["w","j","00","01","02"]`, `["x","j","00","01","02",""]`)
	f.Add(`["a","b","c","d","e","f"]`, `["a","b","","0","0"]`)
	f.Fuzz(func(t *testing.T, prev, raw string) {
		var a, b Submit
		a.UnmarshalShare([]byte(prev))
		b.UnmarshalJSON([]byte(prev))
		errA, errB := a.UnmarshalShare([]byte(raw)), b.UnmarshalJSON([]byte(raw))
		if fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("share decoder %v, general decoder %v", errA, errB)
		}
		if errA != nil {
			return
		}
		b.Worker = ""
		if len(a.Extranonce2) == 0 && len(b.Extranonce2) == 0 {
			a.Extranonce2, b.Extranonce2 = nil, nil
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("share decoder %+v, general decoder %+v", a, b)
		}
	})
}
