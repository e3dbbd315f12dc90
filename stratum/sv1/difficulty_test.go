package sv1

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestDifficultyNumberRoundTrips: the decimal set_difficulty carries parses back to exactly
// the float64 it was made from, through the codec's own decoder, and is never an exponent.
func TestDifficultyNumberRoundTrips(t *testing.T) {
	vals := []float64{0.015625, 0.01562, 1.52587890625e-05, 1e-7, 1, 16384, 1e21, 9427.960695338843, math.Nextafter(0.015625, 0)}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		vals = append(vals, math.Exp(rng.Float64()*80-50))
	}
	for _, d := range vals {
		num := DifficultyNumber(d)
		if strings.ContainsAny(string(num), "eE") {
			t.Fatalf("%v encoded with an exponent: %s", d, num)
		}
		line, err := AppendNotification(nil, &SetDifficulty{Difficulty: num})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		var sd SetDifficulty
		if err := m.UnmarshalParams(&sd); err != nil {
			t.Fatal(err)
		}
		if back, err := strconv.ParseFloat(string(sd.Difficulty), 64); err != nil || back != d {
			t.Fatalf("%v sent as %s reads back as %v (%v)", d, line, back, err)
		}
	}
	if got := DifficultyNumber(0.015625); got != "0.015625" {
		t.Fatalf("0.015625 encoded as %s", got)
	}
}
