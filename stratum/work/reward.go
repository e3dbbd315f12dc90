package work

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/wire/v2"
)

// ErrCoinbase reports a coinbase whose outputs cannot be read: such a job earns no
// expected revenue, since its reward is unknown.
var ErrCoinbase = errors.New("work: coinbase not parseable")

// CoinbaseValue is the total value in satoshis of the job's coinbase outputs: the block
// subsidy plus the fees the pool collects, what a block found on this job pays. The
// coinbase is assembled as Coinb1 ‖ Extranonce1 ‖ zero extranonce2 ‖ Coinb2 (the
// extranonce bytes are inside the scriptSig and change no output) and read as a
// transaction: the non-witness form Stratum V1 and V2 send, or the witness form some
// older SV2 pools send (a coinbase has one input, so its input count never reads as the
// witness marker).
func CoinbaseValue(j *Job) (int64, error) {
	n := len(j.Coinb1) + len(j.Extranonce1) + j.Extranonce2Size + len(j.Coinb2)
	if j.Extranonce2Size < 0 || n > 1<<20 {
		return 0, fmt.Errorf("%w: size", ErrCoinbase)
	}
	b := make([]byte, 0, n)
	b = append(b, j.Coinb1...)
	b = append(b, j.Extranonce1...)
	b = append(b, make([]byte, j.Extranonce2Size)...)
	b = append(b, j.Coinb2...)
	var tx wire.MsgTx
	r := bytes.NewReader(b)
	if err := tx.Deserialize(r); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCoinbase, err)
	}
	if r.Len() != 0 {
		return 0, fmt.Errorf("%w: %d bytes after the transaction", ErrCoinbase, r.Len())
	}
	if len(tx.TxIn) != 1 || len(tx.TxOut) == 0 {
		return 0, fmt.Errorf("%w: %d inputs, %d outputs", ErrCoinbase, len(tx.TxIn), len(tx.TxOut))
	}
	var sum int64
	for _, o := range tx.TxOut {
		// 21e6 BTC caps every sum, so a larger or negative value is a corrupt coinbase.
		if o.Value < 0 || o.Value > maxSats || sum+o.Value > maxSats {
			return 0, fmt.Errorf("%w: output value %d", ErrCoinbase, o.Value)
		}
		sum += o.Value
	}
	return sum, nil
}

// maxSats is the bitcoin supply cap in satoshis.
const maxSats = 21_000_000 * 100_000_000

// SatsPerDifficulty is the expected value in satoshis of one unit of accepted share
// difficulty on the job: reward / network difficulty, the FPPS-style expectation (a share
// of difficulty D finds a block with probability D / network difficulty). It is 0 when
// the coinbase cannot be read (see CoinbaseValue's error) or the network target is zero.
func SatsPerDifficulty(j *Job) (float64, error) {
	v, err := CoinbaseValue(j)
	if err != nil {
		return 0, err
	}
	nd := TargetFromNBits(j.NBits).Difficulty()
	if nd <= 0 || math.IsInf(nd, 0) || math.IsNaN(nd) {
		return 0, fmt.Errorf("%w: network difficulty from nbits %08x", ErrCoinbase, j.NBits)
	}
	return float64(v) / nd, nil
}
