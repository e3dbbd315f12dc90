package proxy

import (
	"errors"
	"strconv"
	"sync"

	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// This file is the one place where SV2 work and shares meet hashgate's protocol-neutral model:
// targets change byte order, coinbases lose their BIP141 witness data, and an
// (extended job, prevhash) pair becomes a work.Job.

// u256FromTarget converts a work.Target (big-endian) to the SV2 wire form (a little-endian
// U256, sv2-spec §3.1).
func u256FromTarget(t work.Target) sv2.U256 {
	var u sv2.U256
	for i := range u {
		u[i] = t[31-i]
	}
	return u
}

// targetFromU256 converts an SV2 little-endian U256 target to a work.Target.
func targetFromU256(u sv2.U256) work.Target {
	var t work.Target
	for i := range t {
		t[i] = u[31-i]
	}
	return t
}

// maxU256 is the easiest possible target: the pool decides.
var maxU256 = func() (u sv2.U256) {
	for i := range u {
		u[i] = 0xff
	}
	return u
}()

// stripBIP141 removes segwit marker/flag and the coinbase witness from an SV2 coinbase
// prefix/suffix pair when present, as sv2-spec §5.3.10 requires senders to and SRI's
// try_strip_bip141 does on receipt: prefix[4]==0 && prefix[5]!=0 marks the witness
// serialization, whose one 32-byte witness item (01 20 <32 bytes>) sits just before the
// 4-byte locktime. Stripped input is returned unchanged. The results never alias the input.
func stripBIP141(prefix, suffix []byte) (p, s []byte, err error) {
	if len(prefix) < 6 || prefix[4] != 0 || prefix[5] == 0 {
		return append([]byte(nil), prefix...), append([]byte(nil), suffix...), nil
	}
	const witness = 2 + 32
	if len(suffix) < witness+4 {
		return nil, nil, errWitnessLayout
	}
	w := suffix[len(suffix)-4-witness : len(suffix)-4]
	if w[0] != 1 || w[1] != 32 {
		return nil, nil, errWitnessLayout
	}
	p = make([]byte, 0, len(prefix)-2)
	p = append(append(p, prefix[:4]...), prefix[6:]...)
	s = make([]byte, 0, len(suffix)-witness)
	s = append(append(s, suffix[:len(suffix)-4-witness]...), suffix[len(suffix)-4:]...)
	return p, s, nil
}

var errWitnessLayout = errors.New("coinbase carries witness data in a layout other than one 32-byte item")

// v2Tip is the chain tip an SV2 upstream announced with SetNewPrevHash.
type v2Tip struct {
	prevHash [32]byte
	minNTime uint32
	nbits    uint32
}

// jobFromV2 builds the protocol-neutral job for an extended job on top of tip, on a channel
// whose extranonce_prefix is prefix and extranonce_size is size.
func jobFromV2(nj *sv2.NewExtendedMiningJob, tip *v2Tip, prefix []byte, size int, target work.Target) (*work.Job, error) {
	cb1, cb2, err := stripBIP141(nj.CoinbaseTxPrefix, nj.CoinbaseTxSuffix)
	if err != nil {
		return nil, err
	}
	ntime := tip.minNTime
	if nj.MinNTime.Valid && nj.MinNTime.Value > ntime {
		ntime = nj.MinNTime.Value
	}
	j := &work.Job{
		ID:              strconv.FormatUint(uint64(nj.JobID), 10),
		PrevHash:        tip.prevHash,
		Coinb1:          cb1,
		Coinb2:          cb2,
		Extranonce1:     append([]byte(nil), prefix...),
		Extranonce2Size: size,
		Version:         nj.Version,
		NBits:           tip.nbits,
		NTime:           ntime,
		Target:          target,
	}
	if nj.VersionRollingAllowed {
		j.VersionMask = sv2.VersionRollingMask
	}
	if len(nj.MerklePath) > 0 {
		j.Branch = make([][32]byte, len(nj.MerklePath))
		for i, n := range nj.MerklePath {
			j.Branch[i] = n
		}
	}
	return j, j.Prepare()
}

// extendedJobFor is the NewExtendedMiningJob a downstream extended channel gets for pj: the
// coinbase halves are the layout's downstream coinb1/coinb2, which already hold the upstream
// extranonce1 on the left and the proxy's padding on the right, so the channel's
// extranonce_prefix (its layout prefix) and the miner's extranonce complete the coinbase. They
// are non-witness serializations because work.Job keeps them so. ntime is the issuance's
// (channel.issue): work given again carries a later one than the job's own.
func extendedJobFor(pj *proxyJob, chanID, jobID uint32, mask, ntime uint32, future bool) sv2.NewExtendedMiningJob {
	j := pj.job
	nj := sv2.NewExtendedMiningJob{
		ChannelID:             chanID,
		JobID:                 jobID,
		Version:               j.Version,
		VersionRollingAllowed: mask&j.VersionMask != 0,
		MerklePath:            pj.v2Path(),
		CoinbaseTxPrefix:      pj.coinb1,
		CoinbaseTxSuffix:      pj.coinb2,
	}
	if !future {
		nj.MinNTime = sv2.Some(ntime)
	}
	return nj
}

// v2Path converts the job's merkle branch once; every extended channel shares the result.
func (pj *proxyJob) v2Path() []sv2.U256 {
	c := &pj.v2
	c.once.Do(func() {
		b := pj.job.Branch
		if len(b) == 0 {
			return
		}
		c.path = make([]sv2.U256, len(b))
		for i := range b {
			c.path[i] = b[i]
		}
	})
	return c.path
}

// v2JobCache is what a proxy job computes once for every SV2 miner.
type v2JobCache struct {
	once sync.Once
	path []sv2.U256
}

// standardRoot is the merkle root of pj for a standard channel whose whole extranonce is
// prefix ‖ x (x all zero: header-only miners roll no extranonce).
func standardRoot(pj *proxyJob, prefix, x []byte, scratch []byte) ([32]byte, []byte) {
	cb := append(scratch[:0], pj.coinb1...)
	cb = append(cb, prefix...)
	cb = append(cb, x...)
	cb = append(cb, pj.coinb2...)
	return work.MerkleRoot(work.Txid(cb), pj.job.Branch), cb
}

// v2ErrorCode maps a share verdict code (V1 numbering, see channel.go) to the SV2
// SubmitShares.Error code.
func v2ErrorCode(code int) string {
	switch code {
	case codeStale:
		return "stale-share"
	case codeDuplicate:
		return "duplicate-share"
	case codeLowDiff:
		return "difficulty-too-low"
	case codeUnauthorized, codeNotSubscribed:
		return "invalid-channel-id"
	}
	return "invalid-share"
}

// codeFromV2Error maps an upstream SubmitShares.Error code to the V1 numbering channels use.
// Unknown codes are only logged by the caller, never branched on (sv2-spec §3.6).
func codeFromV2Error(s string) int {
	switch s {
	case "stale-share", "invalid-job-id":
		return codeStale
	case "duplicate-share":
		return codeDuplicate
	case "difficulty-too-low":
		return codeLowDiff
	}
	return codeOther
}

// hashrateDifficulty is the difficulty at which a device of hashrate h/s finds spm shares per
// minute (0 when h is unusable).
func hashrateDifficulty(h float64, spm float64) float64 {
	if !(h > 0) || !(spm > 0) {
		return 0
	}
	return h * 60 / spm / 4294967296
}
