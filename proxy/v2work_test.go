package proxy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func u256hex(t testing.TB, s string) (u [32]byte) {
	t.Helper()
	copy(u[:], unhex(t, s))
	return u
}

func beHex32(t testing.TB, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

// e2eVector is testdata/sv2/translation/end_to_end_sv1_sv2_share.json.
type e2eVector struct {
	Up struct {
		Success struct {
			TargetLE         string `json:"target_le"`
			ExtranonceSize   int    `json:"extranonce_size"`
			ExtranoncePrefix string `json:"extranonce_prefix"`
		} `json:"OpenExtendedMiningChannel.Success"`
		Job struct {
			JobID   uint32 `json:"job_id"`
			Version uint32 `json:"version"`
			Rolling bool   `json:"version_rolling_allowed"`
			Prefix  string `json:"coinbase_tx_prefix"`
			Suffix  string `json:"coinbase_tx_suffix"`
		} `json:"NewExtendedMiningJob"`
		Prev struct {
			JobID    uint32 `json:"job_id"`
			PrevHash string `json:"prev_hash"`
			MinNTime uint32 `json:"min_ntime"`
			NBits    uint32 `json:"nbits"`
		} `json:"SetNewPrevHash"`
	} `json:"sv2_upstream"`
	Down struct {
		Notify []json.RawMessage `json:"mining.notify_params"`
		Submit []string          `json:"mining.submit_params"`
	} `json:"sv1_downstream"`
	UpSubmit struct {
		S struct {
			JobID      uint32 `json:"job_id"`
			Nonce      uint32 `json:"nonce"`
			NTime      uint32 `json:"ntime"`
			Version    uint32 `json:"version"`
			Extranonce string `json:"extranonce"`
		} `json:"SubmitSharesExtended"`
	} `json:"sv2_upstream_submit"`
	Check struct {
		Coinbase   string `json:"coinbase"`
		MerkleRoot string `json:"merkle_root_internal"`
		Header     string `json:"header"`
		Hash       string `json:"hash_display"`
	} `json:"check"`
}

func loadE2E(t testing.TB) *e2eVector {
	t.Helper()
	b, err := os.ReadFile("../testdata/sv2/translation/end_to_end_sv1_sv2_share.json")
	if err != nil {
		t.Fatal(err)
	}
	var v e2eVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func (v *e2eVector) notifyString(t testing.TB, i int) string {
	var s string
	if err := json.Unmarshal(v.Down.Notify[i], &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTranslationVectorUpstream: a V2 pool's job (with BIP141 data, as SRI's vector carries
// it) becomes the work.Job a V1 miner is notified of, and the V1 miner's share becomes the
// vector's SubmitSharesExtended and the same header hash.
func TestTranslationVectorUpstream(t *testing.T) {
	v := loadE2E(t)
	nj := &sv2.NewExtendedMiningJob{ChannelID: 1, JobID: v.Up.Job.JobID, Version: v.Up.Job.Version, VersionRollingAllowed: v.Up.Job.Rolling,
		CoinbaseTxPrefix: unhex(t, v.Up.Job.Prefix), CoinbaseTxSuffix: unhex(t, v.Up.Job.Suffix)}
	tip := &v2Tip{prevHash: u256hex(t, v.Up.Prev.PrevHash), minNTime: v.Up.Prev.MinNTime, nbits: v.Up.Prev.NBits}
	target := targetFromU256(u256hex(t, v.Up.Success.TargetLE))
	j, err := jobFromV2(nj, tip, unhex(t, v.Up.Success.ExtranoncePrefix), v.Up.Success.ExtranonceSize, target)
	if err != nil {
		t.Fatal(err)
	}
	// What the V1 side is told.
	prev := work.PrevHashToStratum(j.PrevHash)
	if got, want := hex.EncodeToString(prev[:]), v.notifyString(t, 1); got != want {
		t.Fatalf("notify prevhash %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(j.Coinb1), v.notifyString(t, 2); got != want {
		t.Fatalf("coinb1 %s, want %s (BIP141 stripped)", got, want)
	}
	if got, want := hex.EncodeToString(j.Coinb2), v.notifyString(t, 3); got != want {
		t.Fatalf("coinb2 %s, want %s (BIP141 stripped)", got, want)
	}
	if j.Version != beHex32(t, v.notifyString(t, 5)) || j.NBits != beHex32(t, v.notifyString(t, 6)) || j.NTime != beHex32(t, v.notifyString(t, 7)) {
		t.Fatalf("version/nbits/ntime %08x %08x %08x", j.Version, j.NBits, j.NTime)
	}
	if d := target.Difficulty(); d != 1.52587890625e-05 {
		t.Fatalf("target difficulty %v", d)
	}
	// The V1 submit, as the proxy forwards it.
	sub := v.Down.Submit
	s := &upShare{jobID: sub[1], extranonce2: unhex(t, sub[2]), ntime: beHex32(t, sub[3]), nonce: beHex32(t, sub[4])}
	vb := beHex32(t, sub[5])
	if s.version, err = work.MergeVersion(j.Version, vb, j.VersionMask); err != nil {
		t.Fatal(err)
	}
	jobID, _ := strconv.ParseUint(s.jobID, 10, 32)
	m := shareToV2(1, 0, uint32(jobID), s)
	want := v.UpSubmit.S
	if m.JobID != want.JobID || m.Nonce != want.Nonce || m.NTime != want.NTime || m.Version != want.Version || hex.EncodeToString(m.Extranonce) != want.Extranonce {
		t.Fatalf("SubmitSharesExtended %+v, want %+v", m, want)
	}
	var h work.Hasher
	hash, header, err := h.Hash(j, &work.Header{Extranonce2: s.extranonce2, NTime: s.ntime, Nonce: s.nonce, Version: s.version})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(header[:]); got != v.Check.Header {
		t.Fatalf("header %s, want %s", got, v.Check.Header)
	}
	disp := work.ReverseHash(hash)
	if got := hex.EncodeToString(disp[:]); got != v.Check.Hash {
		t.Fatalf("hash %s, want %s", got, v.Check.Hash)
	}
	if !target.Met(&hash) {
		t.Fatal("the vector's share does not meet its channel target")
	}
}

// TestTranslationVectorDownstream: the V1 notify of the vector, served to an SV2 miner on an
// extended channel (and on a standard one), gives the miner the same coinbase, merkle root and
// header hash, and its SubmitSharesExtended rebuilds to that hash on the proxy's share path.
func TestTranslationVectorDownstream(t *testing.T) {
	v := loadE2E(t)
	j := &work.Job{ID: "1", PrevHash: work.PrevHashFromStratum(u256hex(t, v.notifyString(t, 1))), Coinb1: unhex(t, v.notifyString(t, 2)),
		Coinb2: unhex(t, v.notifyString(t, 3)), Extranonce1: unhex(t, v.Up.Success.ExtranoncePrefix), Extranonce2Size: 8,
		Version: beHex32(t, v.notifyString(t, 5)), NBits: beHex32(t, v.notifyString(t, 6)), NTime: beHex32(t, v.notifyString(t, 7)),
		VersionMask: 0x1fffe000}
	if err := j.Prepare(); err != nil {
		t.Fatal(err)
	}
	layout := work.Layout{PrefixSize: 2, MinerSize: 4}
	cb1, cb2, err := layout.DownstreamCoinbase(j)
	if err != nil {
		t.Fatal(err)
	}
	pj := &proxyJob{localID: "1", seq: 1, job: j, coinb1: cb1, coinb2: cb2}
	// The miner's extranonce_prefix and extranonce: together the vector's 8 bytes, split
	// prefix (2) ‖ rolled (4) ‖ the proxy's padding (2, in the suffix).
	en := unhex(t, v.UpSubmit.S.Extranonce)
	prefix, x := en[:2], en[2:6]
	nj := extendedJobFor(pj, 7, 3, sv2.VersionRollingMask, j.NTime, true)
	if nj.MinNTime.Valid || !nj.VersionRollingAllowed {
		t.Fatalf("first job must be a future job that allows rolling: %+v", nj)
	}
	var cb []byte
	cb = append(append(append(append(cb, nj.CoinbaseTxPrefix...), prefix...), x...), nj.CoinbaseTxSuffix...)
	if got := hex.EncodeToString(cb); got != v.Check.Coinbase {
		t.Fatalf("miner coinbase %s, want %s", got, v.Check.Coinbase)
	}
	root := work.MerkleRoot(work.Txid(cb), j.Branch)
	if got := hex.EncodeToString(root[:]); got != v.Check.MerkleRoot {
		t.Fatalf("merkle root %s", got)
	}
	if got, want := j.PrevHash, u256hex(t, v.Up.Prev.PrevHash); got != want {
		t.Fatalf("SetNewPrevHash prev_hash %x, want %x", got, want)
	}
	header := work.BuildHeader(v.UpSubmit.S.Version, &j.PrevHash, &root, v.UpSubmit.S.NTime, j.NBits, v.UpSubmit.S.Nonce)
	if got := hex.EncodeToString(header[:]); got != v.Check.Header {
		t.Fatalf("header %s", got)
	}
	// The proxy's side: the miner's x under its prefix rebuilds the upstream extranonce2 and
	// hashes to the same header.
	en2, err := layout.UpstreamExtranonce2(nil, prefix, x, j.Extranonce2Size)
	if err != nil || !bytes.Equal(en2, en) {
		t.Fatalf("upstream extranonce2 %x (%v), want %x", en2, err, en)
	}
	var h work.Hasher
	_, hd, err := h.Hash(j, &work.Header{Extranonce2: en2, NTime: v.UpSubmit.S.NTime, Nonce: v.UpSubmit.S.Nonce, Version: v.UpSubmit.S.Version})
	if err != nil || hd != header {
		t.Fatalf("proxy rebuilt %x (%v)", hd, err)
	}
	// A standard channel with the whole extranonce fixed to prefix ‖ x gets the same root.
	sr, _ := standardRoot(pj, prefix, x, nil)
	if sr != root {
		t.Fatalf("standard root %x, want %x", sr, root)
	}
}

type bip141Vector struct {
	Vectors []struct {
		Name           string `json:"name"`
		Prefix         string `json:"prefix"`
		Suffix         string `json:"suffix"`
		HasBIP141      bool   `json:"has_bip141"`
		StrippedPrefix string `json:"stripped_prefix"`
		StrippedSuffix string `json:"stripped_suffix"`
	} `json:"vectors"`
}

func TestStripBIP141Vectors(t *testing.T) {
	b, err := os.ReadFile("../testdata/sv2/mining/bip141_strip_sri.json")
	if err != nil {
		t.Fatal(err)
	}
	var v bip141Vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Vectors {
		p, s, err := stripBIP141(unhex(t, c.Prefix), unhex(t, c.Suffix))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		wp, ws := c.Prefix, c.Suffix
		if c.HasBIP141 {
			wp, ws = c.StrippedPrefix, c.StrippedSuffix
		}
		if hex.EncodeToString(p) != wp || hex.EncodeToString(s) != ws {
			t.Fatalf("%s: stripped to %x / %x", c.Name, p, s)
		}
	}
}

// FuzzStripBIP141 checks that any pool input is either refused or stripped to a form that
// stripping leaves alone, without panicking.
func FuzzStripBIP141(f *testing.F) {
	b, _ := os.ReadFile("../testdata/sv2/mining/bip141_strip_sri.json")
	var v bip141Vector
	json.Unmarshal(b, &v)
	for _, c := range v.Vectors {
		p, _ := hex.DecodeString(c.Prefix)
		s, _ := hex.DecodeString(c.Suffix)
		f.Add(p, s)
	}
	f.Fuzz(func(t *testing.T, prefix, suffix []byte) {
		p, s, err := stripBIP141(prefix, suffix)
		if err != nil {
			return
		}
		if len(p) > len(prefix) || len(s) > len(suffix) {
			t.Fatal("stripping grew the coinbase")
		}
		if len(p) == len(prefix) && (!bytes.Equal(p, prefix) || !bytes.Equal(s, suffix)) {
			t.Fatal("unstripped input changed")
		}
	})
}

func TestTargetByteOrder(t *testing.T) {
	d1 := work.Diff1()
	u := u256FromTarget(d1)
	// diff-1 is 00000000ffff0000…: as a little-endian U256 the ffff sits at bytes 26..27.
	if u[26] != 0xff || u[27] != 0xff || u[28] != 0 || u[25] != 0 || targetFromU256(u) != d1 {
		t.Fatalf("diff1 as U256 %x", u)
	}
}
