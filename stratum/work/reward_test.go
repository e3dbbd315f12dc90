package work

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestCoinbaseValueMainnetBlock100000(t *testing.T) {
	var v struct {
		Inputs struct {
			Extranonce1     string            `json:"extranonce1"`
			Extranonce2Size int               `json:"extranonce2_size"`
			NotifyParams    []json.RawMessage `json:"notify_params"`
		} `json:"inputs"`
	}
	readVector(t, "block_mainnet_100000_as_stratum_job.json", &v)
	j := jobFromNotify(t, v.Inputs.NotifyParams, unhex(t, v.Inputs.Extranonce1), v.Inputs.Extranonce2Size)
	sats, err := CoinbaseValue(j)
	if err != nil {
		t.Fatal(err)
	}
	if sats != 5_000_000_000 {
		t.Fatalf("coinbase value %d sats, want 5,000,000,000 (50 BTC)", sats)
	}
	// Mainnet block 100000's difficulty, as block explorers and bitcoind show it.
	if d := j.NetworkTarget().Difficulty(); math.Abs(d-14484.1623612254) > 1e-9 {
		t.Fatalf("network difficulty %.10f, want 14484.1623612254", d)
	}
	per, err := SatsPerDifficulty(j)
	if err != nil {
		t.Fatal(err)
	}
	if want := 5e9 / 14484.1623612254; math.Abs(per-want) > 1e-6 {
		t.Fatalf("sats per difficulty %v, want %v", per, want)
	}
}

func TestCoinbaseValueRefusesMalformed(t *testing.T) {
	good := &Job{
		Coinb1:          unhex(t, "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff08"),
		Extranonce1:     unhex(t, "044c8604"),
		Extranonce2Size: 4,
		Coinb2:          unhex(t, "ffffffff0100f2052a010000004341041b0e8c2567c12536aa13357b79a073dc4444acb83c4ec7a0e2f99dd7457516c5817242da796924ca4e99947d087fedf9ce467cb9f7c6287078f801df276fdf84ac00000000"),
		NBits:           0x1b04864c,
	}
	if _, err := CoinbaseValue(good); err != nil {
		t.Fatal(err)
	}
	// The same coinbase in witness serialization (marker and flag after the version, the
	// 32-byte witness reserved value before the locktime) has the same value.
	wit := *good
	wit.Coinb1 = append(append(append([]byte(nil), good.Coinb1[:4]...), 0x00, 0x01), good.Coinb1[4:]...)
	n := len(good.Coinb2) - 4
	wit.Coinb2 = append(append(append([]byte(nil), good.Coinb2[:n]...), 0x01, 0x20), make([]byte, 32)...)
	wit.Coinb2 = append(wit.Coinb2, good.Coinb2[n:]...)
	if v, err := CoinbaseValue(&wit); err != nil || v != 5_000_000_000 {
		t.Fatalf("witness form: %d, %v", v, err)
	}
	cases := map[string]func(j *Job){
		"truncated outputs":   func(j *Job) { j.Coinb2 = j.Coinb2[:20] },
		"trailing bytes":      func(j *Job) { j.Coinb2 = append(append([]byte(nil), j.Coinb2...), 0) },
		"garbage coinb2":      func(j *Job) { j.Coinb2 = []byte("not a transaction") },
		"scriptSig too short": func(j *Job) { j.Extranonce2Size = 0 },
		"no outputs": func(j *Job) {
			j.Coinb2 = unhex(t, "ffffffff0000000000")
		},
		"value above supply": func(j *Job) {
			b := append([]byte(nil), j.Coinb2...)
			copy(b[5:13], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
			j.Coinb2 = b
		},
		"zero network target": func(j *Job) { j.NBits = 0 },
		"negative value": func(j *Job) {
			b := append([]byte(nil), j.Coinb2...)
			copy(b[5:13], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			j.Coinb2 = b
		},
		"sum above supply": func(j *Job) {
			// Two outputs of 20,000,000 BTC each: each under the cap, the sum over it.
			out := unhex(t, "00008d49fd1a0700")
			out = append(out, 0x00) // empty script
			b := append([]byte{0xff, 0xff, 0xff, 0xff, 0x02}, out...)
			b = append(b, out...)
			j.Coinb2 = append(b, 0, 0, 0, 0)
		},
		"output count 2^32-1": func(j *Job) {
			j.Coinb2 = unhex(t, "ffffffffffffffffff00")
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			j := *good
			mut(&j)
			per, err := SatsPerDifficulty(&j)
			if !errors.Is(err, ErrCoinbase) || per != 0 {
				t.Fatalf("got %v, %v; want 0 and ErrCoinbase", per, err)
			}
		})
	}
}

// TestCoinbaseValueSV2Translation: the SV2 extended job of the translation vector (a witness
// serialized coinbase prefix and suffix around a 24-byte extranonce prefix and 8 free bytes)
// pays 50 BTC.
func TestCoinbaseValueSV2Translation(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sv2", "translation", "end_to_end_sv1_sv2_share.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Up struct {
			Success struct {
				ExtranonceSize   int    `json:"extranonce_size"`
				ExtranoncePrefix string `json:"extranonce_prefix"`
			} `json:"OpenExtendedMiningChannel.Success"`
			Job struct {
				Prefix string `json:"coinbase_tx_prefix"`
				Suffix string `json:"coinbase_tx_suffix"`
			} `json:"NewExtendedMiningJob"`
			Prev struct {
				NBits uint32 `json:"nbits"`
			} `json:"SetNewPrevHash"`
		} `json:"sv2_upstream"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j := &Job{Coinb1: unhex(t, v.Up.Job.Prefix), Coinb2: unhex(t, v.Up.Job.Suffix),
		Extranonce1: unhex(t, v.Up.Success.ExtranoncePrefix), Extranonce2Size: v.Up.Success.ExtranonceSize,
		NBits: v.Up.Prev.NBits}
	sats, err := CoinbaseValue(j)
	if err != nil || sats != 5_000_000_000 {
		t.Fatalf("coinbase value %d, %v; want 5,000,000,000", sats, err)
	}
	per, err := SatsPerDifficulty(j)
	if want := 5e9 / TargetFromNBits(j.NBits).Difficulty(); err != nil || per != want || per <= 0 {
		t.Fatalf("sats per difficulty %v, %v; want %v", per, err, want)
	}
}
