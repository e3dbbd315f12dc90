package loadfleet

import (
	"bytes"
	"testing"

	"github.com/hashgate/hashgate/stratum/sv1"
)

func codecSubmit(t testing.TB, id int64, worker, job string, en2 []byte, ntime, nonce uint32) []byte {
	line, err := sv1.AppendRequest(nil, sv1.IntID(id), &sv1.Submit{Worker: worker, JobID: job, Extranonce2: en2, NTime: ntime, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestAppendSubmitMatchesCodec(t *testing.T) {
	cases := []struct {
		worker, job string
		en2         []byte
	}{
		{"load.0", "1a", []byte{0, 0}},
		{"load.9999", "ff.3", []byte{0xde, 0xad, 0xbe, 0xef}},
		{"a", "", nil},
		{"we<ird&", `j"\`, []byte{1}}, // escaped: falls back to the codec
		{"w", "é", []byte{1}},
	}
	for _, c := range cases {
		lj := &loadJob{id: c.job, idPlain: plainJSON(c.job)}
		got := appendSubmit(nil, submitIDBase+123456789, c.worker, lj, c.en2, 0x6650a1b2, 0x0000ffff)
		want := codecSubmit(t, submitIDBase+123456789, c.worker, c.job, c.en2, 0x6650a1b2, 0x0000ffff)
		if !bytes.Equal(got, want) {
			t.Errorf("worker %q job %q:\n got %s\nwant %s", c.worker, c.job, got, want)
		}
		// And the proxy's decoder reads back what was meant.
		m, err := sv1.Decode(bytes.TrimSuffix(got, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		var s sv1.Submit
		if err := m.UnmarshalParams(&s); err != nil {
			t.Fatal(err)
		}
		if s.Worker != c.worker || s.JobID != c.job || !bytes.Equal(s.Extranonce2, c.en2) && len(c.en2) > 0 || s.NTime != 0x6650a1b2 || s.Nonce != 0xffff {
			t.Errorf("decoded %+v", s)
		}
	}
}

func FuzzAppendSubmit(f *testing.F) {
	f.Add(int64(submitIDBase), "load.1", "1a", []byte{0, 1}, uint32(0x6650a1b2), uint32(7))
	f.Add(int64(5), `w"`, "\x00", []byte{}, uint32(0), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, id int64, worker, job string, en2 []byte, ntime, nonce uint32) {
		lj := &loadJob{id: job, idPlain: plainJSON(job)}
		want, err := sv1.AppendRequest(nil, sv1.IntID(id), &sv1.Submit{Worker: worker, JobID: job, Extranonce2: en2, NTime: ntime, Nonce: nonce})
		if err != nil {
			t.Skip()
		}
		if got := appendSubmit(nil, id, worker, lj, en2, ntime, nonce); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
