package work

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// TestHeaderMatchesBtcd cross-checks hashgate's header layout and hash against btcd's
// wire.BlockHeader for random headers: the same 80 bytes and the same block hash.
func TestHeaderMatchesBtcd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		var prev, root [32]byte
		for k := range prev {
			prev[k], root[k] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		version, ntime, nbits, nonce := rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32()
		ours := BuildHeader(version, &prev, &root, ntime, nbits, nonce)
		bh := wire.BlockHeader{
			Version:    int32(version),
			PrevBlock:  chainhash.Hash(prev),
			MerkleRoot: chainhash.Hash(root),
			Timestamp:  time.Unix(int64(ntime), 0),
			Bits:       nbits,
			Nonce:      nonce,
		}
		var buf bytes.Buffer
		if err := bh.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), ours[:]) {
			t.Fatalf("header bytes differ from btcd:\n ours %x\nbtcd %x", ours, buf.Bytes())
		}
		if got, want := DoubleSHA256(ours[:]), bh.BlockHash(); got != [32]byte(want) {
			t.Fatalf("hash %x, btcd %x", got, want)
		}
	}
}
