package work

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Job is one unit of work from a pool in protocol-neutral form. Upstream sessions build it from
// a V1 mining.notify (plus the session's extranonce1) or from a V2 NewExtendedMiningJob +
// SetNewPrevHash (plus the channel's extranonce_prefix). A Job is immutable once published.
type Job struct {
	// ID is the upstream job id, echoed in the upstream submit (V1: the notify's job_id; V2:
	// the decimal job_id).
	ID string
	// PrevHash is the previous block hash in header byte order (bytes 4..35 of the header).
	PrevHash [32]byte
	// Coinb1 and Coinb2 are the coinbase transaction before and after the extranonce region,
	// non-witness serialization, exactly as the pool sent them.
	Coinb1, Coinb2 []byte
	// Extranonce1 is the upstream session's fixed extranonce part (V1 extranonce1, V2
	// extranonce_prefix), which sits between Coinb1 and the extranonce2 region.
	Extranonce1 []byte
	// Extranonce2Size is the number of bytes the upstream lets us choose.
	Extranonce2Size int
	// Branch is the merkle branch in the order it is folded, each entry in internal byte order.
	Branch [][32]byte
	// Version, NBits and NTime are the header fields as numbers.
	Version, NBits, NTime uint32
	// VersionMask is the version-rolling mask the upstream allows (0: none).
	VersionMask uint32
	// Clean says that older jobs are void (a new block, or the pool wants a restart).
	Clean bool
	// Target is the upstream share target in force for this job: shares meeting it are
	// forwarded to the pool.
	Target Target
	// Received is when the job reached hashgate.
	Received time.Time

	// derived by Prepare
	prefix     []byte // Coinb1 ‖ Extranonce1
	netTarget  Target
	prepared   bool
	coinbaseSz int
}

// Errors returned while rebuilding a share.
var (
	ErrExtranonce2Size = errors.New("work: wrong extranonce2 length")
	ErrNTimeRange      = errors.New("work: ntime out of range")
	ErrVersionBits     = errors.New("work: version bits outside the negotiated mask")
	ErrNotPrepared     = errors.New("work: job not prepared")
)

// MaxNTimeRoll is how far past the job's ntime a share's ntime may be (ckpool's window).
const MaxNTimeRoll = 7000

// Prepare computes the derived fields used on the share path. It must be called once before
// the job is published; it validates sizes so later code can rely on them.
func (j *Job) Prepare() error {
	if j.Extranonce2Size < 0 || j.Extranonce2Size > 32 {
		return fmt.Errorf("work: extranonce2 size %d out of range", j.Extranonce2Size)
	}
	if len(j.Coinb1)+len(j.Extranonce1)+j.Extranonce2Size+len(j.Coinb2) > 1<<20 {
		return errors.New("work: coinbase larger than 1 MiB")
	}
	if len(j.Branch) > 32 {
		return errors.New("work: merkle branch longer than 32")
	}
	p := make([]byte, 0, len(j.Coinb1)+len(j.Extranonce1))
	p = append(p, j.Coinb1...)
	p = append(p, j.Extranonce1...)
	j.prefix = p
	j.netTarget = TargetFromNBits(j.NBits)
	j.coinbaseSz = len(p) + j.Extranonce2Size + len(j.Coinb2)
	j.prepared = true
	return nil
}

// NetworkTarget is the block target from NBits.
func (j *Job) NetworkTarget() *Target { return &j.netTarget }

// CoinbasePrefix returns Coinb1 ‖ Extranonce1: what a downstream miner is sent as its coinb1
// when its extranonce1 is only its own prefix (see Layout).
func (j *Job) CoinbasePrefix() []byte { return j.prefix }

// CoinbaseSize is the full coinbase length in bytes.
func (j *Job) CoinbaseSize() int { return j.coinbaseSz }

// Header is a share rebuilt for hashing: everything the miner chose.
type Header struct {
	// Extranonce2 is the full upstream extranonce2 region (Extranonce2Size bytes).
	Extranonce2 []byte
	NTime       uint32
	Nonce       uint32
	// Version is the final header version (after MergeVersion).
	Version uint32
}

// Hasher rebuilds shares into headers and hashes them. It keeps scratch space so the share
// path does not allocate, and remembers the last merkle root: an ASIC submits many shares per
// extranonce2 (it rolls nonce, version bits and ntime first), and then only the 80-byte header
// needs hashing. One Hasher belongs to one goroutine.
type Hasher struct {
	buf []byte
	// cache of the last (job, extranonce2) -> merkle root
	lastJob  *Job
	lastEn2  []byte
	lastRoot [32]byte
}

// Hash rebuilds the coinbase, merkle root and 80-byte header for h under j and returns the
// double-SHA-256 of the header (internal byte order) and the header itself.
func (s *Hasher) Hash(j *Job, h *Header) (hash [32]byte, header [80]byte, err error) {
	if !j.prepared {
		return hash, header, ErrNotPrepared
	}
	if len(h.Extranonce2) != j.Extranonce2Size {
		return hash, header, ErrExtranonce2Size
	}
	var root [32]byte
	if j == s.lastJob && bytes.Equal(h.Extranonce2, s.lastEn2) {
		root = s.lastRoot
	} else {
		need := j.coinbaseSz
		if cap(s.buf) < need {
			s.buf = make([]byte, 0, need+256)
		}
		cb := append(s.buf[:0], j.prefix...)
		cb = append(cb, h.Extranonce2...)
		cb = append(cb, j.Coinb2...)
		s.buf = cb
		root = MerkleRoot(Txid(cb), j.Branch)
		s.lastJob, s.lastRoot = j, root
		s.lastEn2 = append(s.lastEn2[:0], h.Extranonce2...)
	}
	header = BuildHeader(h.Version, &j.PrevHash, &root, h.NTime, j.NBits, h.Nonce)
	return DoubleSHA256(header[:]), header, nil
}

// CheckNTime applies the ntime window: not before the job's ntime and at most MaxNTimeRoll
// seconds after it.
func (j *Job) CheckNTime(ntime uint32) error {
	if ntime < j.NTime || ntime-j.NTime > MaxNTimeRoll {
		return ErrNTimeRange
	}
	return nil
}

// DoubleSHA256 is SHA-256 applied twice, the hash Bitcoin uses for headers and txids.
func DoubleSHA256(b []byte) [32]byte {
	a := sha256.Sum256(b)
	return sha256.Sum256(a[:])
}

// Txid returns the double SHA-256 of a serialized (non-witness) transaction, internal order.
func Txid(tx []byte) [32]byte { return DoubleSHA256(tx) }

// MerkleRoot folds a merkle branch onto the coinbase txid: h = dSHA256(h ‖ b) for each entry
// in order, the coinbase always on the left. Everything stays in internal byte order.
func MerkleRoot(coinbase [32]byte, branch [][32]byte) [32]byte {
	var pair [64]byte
	h := coinbase
	for i := range branch {
		copy(pair[:32], h[:])
		copy(pair[32:], branch[i][:])
		h = DoubleSHA256(pair[:])
	}
	return h
}

// BuildHeader lays out the 80-byte block header.
func BuildHeader(version uint32, prev, root *[32]byte, ntime, nbits, nonce uint32) [80]byte {
	var hd [80]byte
	binary.LittleEndian.PutUint32(hd[0:], version)
	copy(hd[4:36], prev[:])
	copy(hd[36:68], root[:])
	binary.LittleEndian.PutUint32(hd[68:], ntime)
	binary.LittleEndian.PutUint32(hd[72:], nbits)
	binary.LittleEndian.PutUint32(hd[76:], nonce)
	return hd
}

// PrevHashFromStratum converts a V1 notify prevhash (the header bytes with every 4-byte word
// byte-reversed) into header byte order. The conversion is its own inverse.
func PrevHashFromStratum(p [32]byte) [32]byte {
	var h [32]byte
	for i := 0; i < 32; i += 4 {
		h[i], h[i+1], h[i+2], h[i+3] = p[i+3], p[i+2], p[i+1], p[i]
	}
	return h
}

// PrevHashToStratum converts header-order bytes into the V1 notify form.
func PrevHashToStratum(h [32]byte) [32]byte { return PrevHashFromStratum(h) }

// ReverseHash returns the bytes reversed: internal order <-> display (RPC/explorer) order.
func ReverseHash(h [32]byte) [32]byte {
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		h[i], h[j] = h[j], h[i]
	}
	return h
}

// MergeVersion applies BIP310 version rolling: the miner chooses the bits inside mask, the job
// decides the rest. It accepts the three forms seen in the field: the rolled bits alone, the
// XOR delta against a job version with no bits inside the mask, and the full rolled version
// (bits outside the mask equal to the job's). Anything else outside the mask is rejected.
func MergeVersion(job, bits, mask uint32) (uint32, error) {
	if outside := bits &^ mask; outside != 0 && outside != job&^mask {
		return 0, ErrVersionBits
	}
	return job&^mask | bits&mask, nil
}
