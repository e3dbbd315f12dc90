// Package sv2 is the Stratum V2 binary codec: data types, the 6-byte frame
// header, and every message of the Common, Mining and Template Distribution
// protocols plus the Extensions Negotiation extension (0x0001). It carries
// plaintext frames only; the Noise transport wraps the same bytes.
//
// References are to stratum-mining/sv2-spec at 0f38d51 and, where the spec
// and the reference implementation (SRI) disagree, SRI on the wire:
//
//   - §3.1 data types: integers are little-endian, U24 is three bytes,
//     BOOL is decoded from bit 0 only, OPTION[T] is SEQ0_1[T].
//   - §3.2 framing: extension_type U16 (bit 15, mask 0x8000, is channel_msg),
//     msg_type U8, msg_length U24 counting the payload only.
//   - §3.4 TLV extension fields, written little-endian as SRI does
//     (the spec's worked example is big-endian).
//   - §3.6/§5.3 message layouts and the message-type table of §8, including
//     the 2026-05 channel_msg corrections (NewMiningJob and the
//     SetCustomMiningJob family carry the bit) and group_channel_id in
//     OpenExtendedMiningChannel.Success (2025-12).
//   - §7 Template Distribution (CoinbaseOutputConstraints .. SubmitSolution).
//   - extensions/0x0001 and 0x0002 (worker-specific hashrate tracking TLV).
//
// Reading is bounded: ReadFrame checks msg_length against the maximum
// payload of the announced message type before it allocates, rejects
// trailing bytes, and returns a *MessageError for a malformed known message.
// Frames of unknown types come back as *Unknown, to be skipped or forwarded
// byte for byte. Receivers dispatch on (extension_type & 0x7FFF, msg_type)
// and ignore the channel bit, because older peers still send the pre-2026
// bits; senders always use the current table.
//
// Writing is all-or-nothing: AppendFrame encodes a whole frame into a
// buffer or leaves the buffer untouched, because half a frame would corrupt
// an encrypted stream.
//
// Decoded messages may alias the payload they were decoded from (byte
// fields such as extranonces and coinbase parts are not copied). ReadFrame
// allocates a fresh payload per frame, so its results are independent.
package sv2
