package noise

// Transport frame layout (sv2-spec §4.6, protocol brief §2.4):
//
//	AEAD(k, n++, ad=∅, header[6])        22 bytes
//	AEAD(k, n++, ad=∅, payload chunk)    len+16, one per ≤65519-byte chunk
//
// msg_length in the header is the plaintext payload length. An empty
// payload has no payload ciphertext and uses one nonce.

// msgLength reads the U24 LE msg_length at header bytes 3..5.
func msgLength(hdr []byte) int {
	return int(hdr[3]) | int(hdr[4])<<8 | int(hdr[5])<<16
}

// EncryptedLen is the wire size of a frame whose payload has n bytes,
// header included.
func EncryptedLen(n int) int {
	return EncryptedHeaderSize + encryptedPayloadLen(n)
}

// encryptedPayloadLen is ct_len from the spec: full chunks of 65535 bytes
// plus a final short chunk with its MAC.
func encryptedPayloadLen(n int) int {
	l := n / MaxChunkPlaintext * MaxChunkSize
	if r := n % MaxChunkPlaintext; r > 0 {
		l += r + MACSize
	}
	return l
}

// sealFrame appends the encrypted frame for hdr and payload to dst, all or
// nothing: on error dst is returned unchanged in length.
func (c *cipherState) sealFrame(dst []byte, hdr [HeaderSize]byte, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, EncryptedLen(len(payload)))
	out, err := c.seal(dst, nil, hdr[:])
	if err != nil {
		return dst[:start], err
	}
	for len(payload) > 0 {
		n := min(len(payload), MaxChunkPlaintext)
		if out, err = c.seal(out, nil, payload[:n]); err != nil {
			return dst[:start], err
		}
		payload = payload[n:]
	}
	return out, nil
}

// grow returns b with room for n more bytes without reallocation.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
