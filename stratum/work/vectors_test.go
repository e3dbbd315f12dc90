package work

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// These tests run every hash-bearing Stratum V1 vector in testdata/sv1 (copied from hashgate's
// verified vector set; see testdata/sv1/INDEX.md for provenance) through the share path.

func readVector(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sv1", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func hex32(t testing.TB, s string) [32]byte {
	t.Helper()
	var h [32]byte
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("want 32 bytes, got %d", len(b))
	}
	copy(h[:], b)
	return h
}

func u32(t testing.TB, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		t.Fatalf("u32 %q: %v", s, err)
	}
	return uint32(v)
}

// jobFromNotify builds a Job from raw notify params the way an upstream V1 session does.
func jobFromNotify(t testing.TB, params []json.RawMessage, en1 []byte, en2Size int) *Job {
	t.Helper()
	var s [8]string
	var branch []string
	for i, idx := range []int{0, 1, 2, 3, 5, 6, 7} {
		_ = i
		if err := json.Unmarshal(params[idx], &s[idx]); err != nil {
			t.Fatalf("notify param %d: %v", idx, err)
		}
	}
	if err := json.Unmarshal(params[4], &branch); err != nil {
		t.Fatal(err)
	}
	j := &Job{
		ID:              s[0],
		PrevHash:        PrevHashFromStratum(hex32(t, s[1])),
		Coinb1:          unhex(t, s[2]),
		Coinb2:          unhex(t, s[3]),
		Extranonce1:     en1,
		Extranonce2Size: en2Size,
		Version:         u32(t, s[5]),
		NBits:           u32(t, s[6]),
		NTime:           u32(t, s[7]),
	}
	for _, b := range branch {
		j.Branch = append(j.Branch, hex32(t, b))
	}
	if err := j.Prepare(); err != nil {
		t.Fatal(err)
	}
	return j
}

type shareExpect struct {
	CoinbaseHex          string  `json:"coinbase_hex"`
	CoinbaseTxid         string  `json:"coinbase_txid_internal_order"`
	MerkleRoot           string  `json:"merkle_root_internal_order"`
	HeaderHex            string  `json:"header_hex"`
	HashInternal         string  `json:"header_hash_internal_order"`
	HashDisplay          string  `json:"header_hash_display_order"`
	ShareDifficulty      float64 `json:"share_difficulty_bdiff"`
	NetworkTarget        string  `json:"network_target_from_nbits"`
	MeetsNetworkTarget   bool    `json:"meets_network_target"`
	ShareTarget          string  `json:"share_target_for_difficulty"`
	MeetsShareDifficulty bool    `json:"meets_share_difficulty"`
}

type shareVector struct {
	Inputs struct {
		Extranonce1     string            `json:"extranonce1"`
		Extranonce2Size int               `json:"extranonce2_size"`
		Mask            string            `json:"negotiated_version_mask"`
		ShareDifficulty float64           `json:"share_difficulty"`
		NotifyParams    []json.RawMessage `json:"notify_params"`
		NotifyRecon     []json.RawMessage `json:"notify_params_reconstructed"`
		SubmitParams    []json.RawMessage `json:"submit_params"`
		SubmitRecon     []json.RawMessage `json:"submit_params_reconstructed"`
		SubmitRaw       string            `json:"submit_raw"`
	} `json:"inputs"`
	Expected shareExpect `json:"expected"`
}

func closeRel(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }

func TestShareVectors(t *testing.T) {
	for _, name := range []string{
		"share_classic_slush_docs_testnet.json",
		"share_espminer_mainnet_slush_diff683.json",
		"share_publicpool_testnet_version_rolling.json",
		"block_mainnet_100000_as_stratum_job.json",
	} {
		t.Run(name, func(t *testing.T) {
			var v shareVector
			readVector(t, name, &v)
			in := v.Inputs
			notify := in.NotifyParams
			if notify == nil {
				notify = in.NotifyRecon
			}
			submit := in.SubmitParams
			if submit == nil {
				submit = in.SubmitRecon
			}
			if submit == nil {
				var m struct {
					Params []json.RawMessage `json:"params"`
				}
				if err := json.Unmarshal([]byte(in.SubmitRaw), &m); err != nil {
					t.Fatal(err)
				}
				submit = m.Params
			}
			j := jobFromNotify(t, notify, unhex(t, in.Extranonce1), in.Extranonce2Size)
			var sp []string
			for _, p := range submit {
				var s string
				if err := json.Unmarshal(p, &s); err != nil {
					t.Fatalf("submit param %s: %v", p, err)
				}
				sp = append(sp, s)
			}
			h := Header{Extranonce2: unhex(t, sp[2]), NTime: u32(t, sp[3]), Nonce: u32(t, sp[4]), Version: j.Version}
			if len(sp) > 5 {
				mask := uint32(0xffffffff)
				if in.Mask != "" {
					mask = u32(t, in.Mask)
				}
				ver, err := MergeVersion(j.Version, u32(t, sp[5]), mask)
				if err != nil {
					t.Fatal(err)
				}
				h.Version = ver
			}
			var hs Hasher
			hash, header, err := hs.Hash(j, &h)
			if err != nil {
				t.Fatal(err)
			}
			e := v.Expected
			if got := hex.EncodeToString(hs.buf); got != e.CoinbaseHex {
				t.Errorf("coinbase\n got %s\nwant %s", got, e.CoinbaseHex)
			}
			if txid := Txid(hs.buf); hex.EncodeToString(txid[:]) != e.CoinbaseTxid {
				t.Errorf("coinbase txid %x, want %s", txid, e.CoinbaseTxid)
			}
			if got := hex.EncodeToString(header[36:68]); got != e.MerkleRoot {
				t.Errorf("merkle root %s, want %s", got, e.MerkleRoot)
			}
			if got := hex.EncodeToString(header[:]); got != e.HeaderHex {
				t.Errorf("header\n got %s\nwant %s", got, e.HeaderHex)
			}
			if got := hex.EncodeToString(hash[:]); got != e.HashInternal {
				t.Errorf("hash %s, want %s", got, e.HashInternal)
			}
			disp := ReverseHash(hash)
			if got := hex.EncodeToString(disp[:]); got != e.HashDisplay {
				t.Errorf("display hash %s, want %s", got, e.HashDisplay)
			}
			if d := HashDifficulty(&hash); !closeRel(d, e.ShareDifficulty) {
				t.Errorf("share difficulty %v, want %v", d, e.ShareDifficulty)
			}
			if d := HashDifficultyFast(&hash); !closeRel(d, e.ShareDifficulty) {
				t.Errorf("fast share difficulty %v, want %v", d, e.ShareDifficulty)
			}
			if got := j.NetworkTarget().String(); got != e.NetworkTarget {
				t.Errorf("network target %s, want %s", got, e.NetworkTarget)
			}
			if got := j.NetworkTarget().Met(&hash); got != e.MeetsNetworkTarget {
				t.Errorf("meets network target = %v, want %v", got, e.MeetsNetworkTarget)
			}
			diff := in.ShareDifficulty
			switch {
			case diff != 0:
			case e.ShareTarget == Diff1().String():
				diff = 1
			default:
				// The ESP-Miner fixture asserts (int)difficulty == 683.
				diff = math.Floor(e.ShareDifficulty)
			}
			st := MustTarget(diff)
			if e.ShareTarget != "" && st.String() != e.ShareTarget {
				t.Errorf("share target %s, want %s", st, e.ShareTarget)
			}
			if got := st.Met(&hash); got != e.MeetsShareDifficulty {
				t.Errorf("meets share difficulty = %v, want %v", got, e.MeetsShareDifficulty)
			}
		})
	}
}

// TestVersionBitsMatter is the public-pool vector's point: without the 6th submit param the
// same share is worthless.
func TestVersionBitsMatter(t *testing.T) {
	var v shareVector
	readVector(t, "share_publicpool_testnet_version_rolling.json", &v)
	j := jobFromNotify(t, v.Inputs.NotifyParams, unhex(t, v.Inputs.Extranonce1), v.Inputs.Extranonce2Size)
	var hs Hasher
	hash, _, err := hs.Hash(j, &Header{Extranonce2: unhex(t, "c7080000"), NTime: 0x64b3f3ec, Nonce: 0xed460d91, Version: j.Version})
	if err != nil {
		t.Fatal(err)
	}
	st := MustTarget(512)
	if st.Met(&hash) {
		t.Fatal("share without version bits must not meet difficulty 512")
	}
	if d := HashDifficulty(&hash); d > 1e-6 {
		t.Fatalf("difficulty without version bits %v, want ~5e-10", d)
	}
}

func TestHeaderOnlyVector(t *testing.T) {
	var v struct {
		Inputs struct {
			Prev, Version, NBits, NTime, Nonce, Root string
		} `json:"-"`
		In       map[string]string `json:"inputs"`
		Expected shareExpect       `json:"expected"`
	}
	readVector(t, "header_espminer_mainnet_diff18.json", &v)
	prev := PrevHashFromStratum(hex32(t, v.In["prevhash_stratum"]))
	root := hex32(t, v.In["merkle_root_internal_order"])
	hd := BuildHeader(u32(t, v.In["version"]), &prev, &root, u32(t, v.In["ntime"]), u32(t, v.In["nbits"]), u32(t, v.In["nonce"]))
	if got := hex.EncodeToString(hd[:]); got != v.Expected.HeaderHex {
		t.Fatalf("header\n got %s\nwant %s", got, v.Expected.HeaderHex)
	}
	h := DoubleSHA256(hd[:])
	if got := hex.EncodeToString(h[:]); got != v.Expected.HashInternal {
		t.Fatalf("hash %s want %s", got, v.Expected.HashInternal)
	}
	if d := HashDifficulty(&h); !closeRel(d, v.Expected.ShareDifficulty) {
		t.Fatalf("difficulty %v want %v", d, v.Expected.ShareDifficulty)
	}
}

func TestPrevHashVectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			Stratum string `json:"stratum_prevhash"`
			Header  string `json:"header_bytes_4_to_35"`
			Display string `json:"display_order_rpc"`
		} `json:"vectors"`
	}
	readVector(t, "prevhash_conversion_vectors.json", &v)
	if len(v.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Vectors {
		h := PrevHashFromStratum(hex32(t, c.Stratum))
		if got := hex.EncodeToString(h[:]); got != c.Header {
			t.Errorf("header %s want %s", got, c.Header)
		}
		d := ReverseHash(h)
		if got := hex.EncodeToString(d[:]); got != c.Display {
			t.Errorf("display %s want %s", got, c.Display)
		}
		s := PrevHashToStratum(h)
		if got := hex.EncodeToString(s[:]); got != c.Stratum {
			t.Errorf("back to stratum %s want %s", got, c.Stratum)
		}
	}
}

func TestMerkleVectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			ID     string `json:"id"`
			Inputs struct {
				Coinb1, Coinb2, Extranonce1, Extranonce2 string
				Branch                                   []string          `json:"merkle_branch"`
				NotifyParams                             []json.RawMessage `json:"notify_params"`
				SubmitRaw                                string            `json:"submit_raw"`
			} `json:"inputs"`
			Expected struct {
				CoinbaseHex string `json:"coinbase_hex"`
				Root        string `json:"merkle_root_internal_order"`
				Negative    *struct {
					HeaderHex  string  `json:"header_hex"`
					Difficulty float64 `json:"share_difficulty_bdiff"`
					Meets1     bool    `json:"meets_difficulty_1"`
				} `json:"negative_share_check"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	readVector(t, "merkle_root_vectors.json", &v)
	if len(v.Vectors) < 4 {
		t.Fatalf("want 4 vectors, got %d", len(v.Vectors))
	}
	for _, c := range v.Vectors {
		t.Run(c.ID, func(t *testing.T) {
			in := c.Inputs
			en2 := unhex(t, in.Extranonce2)
			j := &Job{Coinb1: unhex(t, in.Coinb1), Coinb2: unhex(t, in.Coinb2), Extranonce1: unhex(t, in.Extranonce1), Extranonce2Size: len(en2)}
			for _, b := range in.Branch {
				j.Branch = append(j.Branch, hex32(t, b))
			}
			if in.NotifyParams != nil {
				j = jobFromNotify(t, in.NotifyParams, unhex(t, in.Extranonce1), len(en2))
			} else if err := j.Prepare(); err != nil {
				t.Fatal(err)
			}
			var hs Hasher
			var sp []string
			hdr := Header{Extranonce2: en2, Version: j.Version, NTime: j.NTime}
			if in.SubmitRaw != "" {
				var m struct {
					Params []string `json:"params"`
				}
				if err := json.Unmarshal([]byte(in.SubmitRaw), &m); err != nil {
					t.Fatal(err)
				}
				sp = m.Params
				hdr.NTime, hdr.Nonce = u32(t, sp[3]), u32(t, sp[4])
				ver, err := MergeVersion(j.Version, u32(t, sp[5]), 0x1fffe000)
				if err != nil {
					t.Fatal(err)
				}
				hdr.Version = ver
			}
			hash, header, err := hs.Hash(j, &hdr)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(hs.buf); got != c.Expected.CoinbaseHex {
				t.Errorf("coinbase\n got %s\nwant %s", got, c.Expected.CoinbaseHex)
			}
			if got := hex.EncodeToString(header[36:68]); got != c.Expected.Root {
				t.Errorf("root %s want %s", got, c.Expected.Root)
			}
			if n := c.Expected.Negative; n != nil {
				if got := hex.EncodeToString(header[:]); got != n.HeaderHex {
					t.Errorf("negative header\n got %s\nwant %s", got, n.HeaderHex)
				}
				d1 := Diff1()
				if d1.Met(&hash) != n.Meets1 || n.Meets1 {
					t.Errorf("negative vector: meets difficulty 1 = %v", d1.Met(&hash))
				}
				if d := HashDifficulty(&hash); !closeRel(d, n.Difficulty) {
					t.Errorf("difficulty %v want %v", d, n.Difficulty)
				}
			}
		})
	}
}

func TestDifficultyTargetVectors(t *testing.T) {
	var v struct {
		Constants struct {
			Diff1 string `json:"diff1_target_bdiff"`
		} `json:"constants"`
		D2T []struct {
			Difficulty float64 `json:"difficulty"`
			Target     string  `json:"target"`
		} `json:"stratum_difficulty_to_target"`
		NBits []struct {
			NBits  string  `json:"nbits"`
			Target string  `json:"target"`
			Diff   float64 `json:"network_difficulty_bdiff"`
		} `json:"nbits_to_target"`
	}
	readVector(t, "difficulty_target_vectors.json", &v)
	if Diff1().String() != v.Constants.Diff1 {
		t.Fatalf("diff1 %s want %s", Diff1(), v.Constants.Diff1)
	}
	if len(v.D2T) == 0 || len(v.NBits) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.D2T {
		got, err := TargetFromDifficulty(c.Difficulty)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != c.Target {
			t.Errorf("difficulty %v: target %s want %s", c.Difficulty, got, c.Target)
		}
		if d := got.Difficulty(); !closeRel(d, c.Difficulty) {
			t.Errorf("difficulty %v round trip %v", c.Difficulty, d)
		}
	}
	for _, c := range v.NBits {
		got := TargetFromNBits(u32(t, c.NBits))
		if got.String() != c.Target {
			t.Errorf("nbits %s: %s want %s", c.NBits, got, c.Target)
		}
		if d := got.Difficulty(); !closeRel(d, c.Diff) {
			t.Errorf("nbits %s difficulty %v want %v", c.NBits, d, c.Diff)
		}
	}
}

// TestSubdivisionVectors checks hashgate's layout (upstream extranonce1 folded into the coinb1
// a miner is sent, the miner's extranonce1 = its prefix) produces the coinbase, header and hash
// of every derived subdivision vector, and that the upstream extranonce2 matches.
func TestSubdivisionVectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			ID       string `json:"id"`
			BasedOn  string `json:"based_on"`
			Upstream struct {
				E1   string  `json:"subscribe_extranonce1"`
				N    int     `json:"subscribe_extranonce2_size"`
				Diff float64 `json:"difficulty"`
			} `json:"upstream"`
			Assign struct {
				Prefix string `json:"miner_prefix_hex"`
				Bytes  int    `json:"prefix_bytes"`
			} `json:"proxy_assignment"`
			Down struct {
				N    int     `json:"subscribe_result_extranonce2_size"`
				Diff float64 `json:"difficulty"`
			} `json:"downstream"`
			Miner struct {
				En2         string  `json:"extranonce2"`
				NTime       string  `json:"ntime"`
				Nonce       string  `json:"nonce"`
				VersionBits *string `json:"version_bits"`
			} `json:"miner_submit"`
			Up struct {
				En2 string `json:"extranonce2"`
			} `json:"proxy_upstream_submit"`
			Expected struct {
				CoinbaseHex  string `json:"coinbase_hex"`
				HeaderHex    string `json:"header_hex"`
				HashDisplay  string `json:"header_hash_display_order"`
				MeetsDown    bool   `json:"meets_downstream_difficulty"`
				MeetsUp      bool   `json:"meets_upstream_difficulty"`
				IdenticalCBs *bool  `json:"identical_coinbase_on_both_sides"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	readVector(t, "extranonce_subdivision_derived.json", &v)
	if len(v.Vectors) < 3 {
		t.Fatalf("want >= 3 vectors, got %d", len(v.Vectors))
	}
	for _, c := range v.Vectors {
		t.Run(c.ID, func(t *testing.T) {
			var base shareVector
			readVector(t, c.BasedOn, &base)
			notify := base.Inputs.NotifyParams
			if notify == nil {
				notify = base.Inputs.NotifyRecon
			}
			j := jobFromNotify(t, notify, unhex(t, c.Upstream.E1), c.Upstream.N)
			l := Layout{PrefixSize: c.Assign.Bytes, MinerSize: c.Upstream.N - c.Assign.Bytes}
			if l.MinerSize != c.Down.N && c.Down.N != 0 {
				t.Fatalf("layout miner size %d, vector %d", l.MinerSize, c.Down.N)
			}
			prefix := unhex(t, c.Assign.Prefix)
			cb1, cb2, err := l.DownstreamCoinbase(j)
			if err != nil {
				t.Fatal(err)
			}
			x := unhex(t, c.Miner.En2)
			// The coinbase the miner builds from what it was sent.
			minerCB := append(append(append(append([]byte{}, cb1...), prefix...), x...), cb2...)
			if got := hex.EncodeToString(minerCB); got != c.Expected.CoinbaseHex {
				t.Errorf("miner coinbase\n got %s\nwant %s", got, c.Expected.CoinbaseHex)
			}
			up, err := l.UpstreamExtranonce2(nil, prefix, x, c.Upstream.N)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(up); got != c.Up.En2 {
				t.Errorf("upstream extranonce2 %s want %s", got, c.Up.En2)
			}
			h := Header{Extranonce2: up, NTime: u32(t, c.Miner.NTime), Nonce: u32(t, c.Miner.Nonce), Version: j.Version}
			if c.Miner.VersionBits != nil {
				if h.Version, err = MergeVersion(j.Version, u32(t, *c.Miner.VersionBits), 0x1fffe000); err != nil {
					t.Fatal(err)
				}
			}
			var hs Hasher
			hash, header, err := hs.Hash(j, &h)
			if err != nil {
				t.Fatal(err)
			}
			if c.Expected.HeaderHex != "" {
				if got := hex.EncodeToString(header[:]); got != c.Expected.HeaderHex {
					t.Errorf("header\n got %s\nwant %s", got, c.Expected.HeaderHex)
				}
			}
			disp := ReverseHash(hash)
			if c.Expected.HashDisplay != "" && hex.EncodeToString(disp[:]) != c.Expected.HashDisplay {
				t.Errorf("hash %x want %s", disp, c.Expected.HashDisplay)
			}
			if c.Down.Diff > 0 {
				dt := MustTarget(c.Down.Diff)
				if dt.Met(&hash) != c.Expected.MeetsDown {
					t.Errorf("meets downstream = %v want %v", dt.Met(&hash), c.Expected.MeetsDown)
				}
			}
			if c.Upstream.Diff > 0 {
				ut := MustTarget(c.Upstream.Diff)
				if ut.Met(&hash) != c.Expected.MeetsUp {
					t.Errorf("meets upstream = %v want %v", ut.Met(&hash), c.Expected.MeetsUp)
				}
			}
		})
	}
}
