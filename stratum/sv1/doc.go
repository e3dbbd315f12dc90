// Package sv1 is hashgate's Stratum V1 wire codec: line framing, the
// JSON-RPC envelope, typed params for every method hashgate speaks in either
// direction (it is a server to miners and a client to pools), and the
// encoders for both sides. It holds no connection state; sessions, proxying
// and share hashing live elsewhere (stratum/work does the hashing).
//
// References are to hashgate's Stratum V1 brief, protocol/sv1.md:
//
//   - Framing (section 1, section 11): LineReader splits strictly on LF with a
//     hard cap (DefaultMaxLine), trims CR, skips empty lines, and reports
//     ErrLineTooLong without buffering the oversized line.
//   - Envelope (section 1): Message keeps id, params and result raw so ids
//     are echoed with their JSON type and every params shape can be checked;
//     Error accepts every error form seen in the field (section 6) and is
//     always written as [code,"message",null].
//   - Methods (section 3): one file per method family, each a Params type
//     with a strict positional decoder that tolerates the documented
//     variants (extra trailing elements, numeric ntime/nonce, fractional
//     difficulty kept as exact decimal text, min-bit-count as number or
//     string, Braiins' 4-element subscribe, the 10-element notify, string or
//     number ports) and an encoder through json.Marshal.
//   - Byte order (section 4): Notify keeps prevhash, branch and the 32-bit
//     fields in Stratum wire order; conversion to header order is left to
//     stratum/work.
//   - Errors (section 6): the standard table ErrOther ... ErrNotSubscribed
//     (codes 20-25) and ClassifyReason for free-text rejects.
//
// Hot paths are hand-written appenders proven byte-equal to the json.Marshal
// path by fuzz tests: AppendNotify (encode a job once, write the same bytes
// to every miner) and AppendBoolResponse/AppendErrorResponse (share
// replies). Decoding a submit goes through DecodeInto and Submit.UnmarshalJSON,
// both of which can reuse their buffers.
package sv1
