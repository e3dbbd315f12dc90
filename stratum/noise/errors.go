package noise

import "errors"

// Sentinel errors. Handshake and transport failures wrap one of these so
// callers can classify them with errors.Is.
var (
	// ErrDecrypt reports a failed AEAD authentication: a tampered or
	// corrupted handshake message or transport frame. A Conn that returned it
	// is unusable.
	ErrDecrypt = errors.New("noise: message authentication failed")

	// ErrBadCertificate reports a certificate whose signature does not verify
	// against the authority key, or whose version is unknown.
	ErrBadCertificate = errors.New("noise: invalid server certificate")

	// ErrCertificateExpired reports a certificate past not_valid_after
	// (plus leeway).
	ErrCertificateExpired = errors.New("noise: server certificate expired")

	// ErrCertificateNotYetValid reports a certificate before valid_from
	// (minus leeway).
	ErrCertificateNotYetValid = errors.New("noise: server certificate not yet valid")

	// ErrInvalidKey reports a malformed or out-of-range key.
	ErrInvalidKey = errors.New("noise: invalid key")

	// ErrKeyEncoding reports a Base58Check key string with a bad checksum,
	// version prefix or length.
	ErrKeyEncoding = errors.New("noise: invalid key encoding")

	// ErrHandshakeState reports a handshake method called out of order.
	ErrHandshakeState = errors.New("noise: handshake step out of order")

	// ErrNonceExhausted reports that a cipher state used its last nonce. No
	// rekey exists in SV2, so the connection must be replaced.
	ErrNonceExhausted = errors.New("noise: nonce space exhausted")

	// ErrFrameTooLarge reports a frame whose payload exceeds the configured
	// maximum (Config.MaxPayload) or the U24 limit of the SV2 header.
	ErrFrameTooLarge = errors.New("noise: frame payload too large")

	// ErrFrameLength reports a WriteFrame call whose header msg_length
	// differs from the payload length.
	ErrFrameLength = errors.New("noise: header length does not match payload")

	// ErrKeyFile reports a malformed key file.
	ErrKeyFile = errors.New("noise: invalid key file")
)
