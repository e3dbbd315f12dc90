package sv2

import (
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestTargetFromHashrateVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Hashrate        float64 `json:"nominal_hash_rate"`
			SharesPerMinute float64 `json:"shares_per_minute"`
			TargetLE        string  `json:"target_le_wire"`
			TargetBE        string  `json:"target_be_display"`
		} `json:"vectors"`
	}
	loadJSON(t, "../../testdata/sv2/mining/hashrate_to_target_sri.json", &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		got, err := TargetFromHashrate(v.Hashrate, v.SharesPerMinute)
		if err != nil {
			t.Fatalf("%g H/s: %v", v.Hashrate, err)
		}
		if hex.EncodeToString(got[:]) != v.TargetLE {
			t.Errorf("%g H/s at %g/min: got %x, want %s", v.Hashrate, v.SharesPerMinute, got, v.TargetLE)
		}
		// The display form is the same integer big-endian.
		be := make([]byte, 32)
		for i := range be {
			be[i] = got[31-i]
		}
		if hex.EncodeToString(be) != v.TargetBE {
			t.Errorf("%g H/s: display %x, want %s", v.Hashrate, be, v.TargetBE)
		}
	}
}

func TestTargetFromHashrateEdges(t *testing.T) {
	// No hashrate yet: the easiest target.
	got, err := TargetFromHashrate(0, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range got {
		if b != 0xff {
			t.Fatalf("zero hashrate gave %x", got)
		}
	}
	// Beyond 2^128 hashes per share the count saturates; the result is a
	// small but non-zero target, the same as SRI's u128 cast.
	huge, err := TargetFromHashrate(1e300, 1)
	if err != nil {
		t.Fatal(err)
	}
	sat, _ := TargetFromHashrate(math.MaxFloat64, 1e-300)
	if huge != sat || huge == (U256{}) {
		t.Fatalf("saturation: %x vs %x", huge, sat)
	}
	for _, c := range [][2]float64{{-1, 1}, {1, 0}, {1, -1}, {math.NaN(), 1}, {1, math.NaN()}, {math.Inf(1), 1}, {1, math.Inf(1)}} {
		if _, err := TargetFromHashrate(c[0], c[1]); !errors.Is(err, ErrInvalidHashrate) {
			t.Errorf("TargetFromHashrate(%g, %g) = %v", c[0], c[1], err)
		}
	}
}
