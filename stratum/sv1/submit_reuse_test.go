package sv1

import (
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
