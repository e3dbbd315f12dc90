// Package noise implements the Stratum V2 transport security layer:
// Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256 (sv2-spec §4, protocol brief §2).
//
// The package has four layers, each usable on its own:
//
//   - Initiator and Responder are pure handshake state machines. They do no
//     I/O, take their ephemeral keys and clock from Config, and so reproduce
//     fixed vectors byte for byte.
//   - Certificate is the 74-byte SIGNATURE_NOISE_MESSAGE with which a pool's
//     authority key vouches for a server's static key for a time window.
//   - Conn adapts a net.Conn to the encrypted SV2 transport: every frame's
//     6-byte header is sealed on its own (22 bytes on the wire) and its
//     payload in chunks of at most 65535 bytes including the MAC. Conn offers
//     a frame API (ReadFrame, WriteFrame) and a plaintext byte-stream view
//     (Read, Write) so an SV2 codec can sit on top unchanged.
//   - Client, Server and Listener run the handshake over a connection with a
//     deadline; Listener does so off its accept loop, at most
//     Config.MaxHandshakes at a time, so a stalled peer never holds up others.
//
// Keys: an authority key signs certificates offline; a server holds a static
// key and a certificate issued for it. The authority public key travels in
// configuration as Base58Check(0x01 0x00 ‖ x-only key), the form SRI pools
// publish. Key files are JSON (see KeyFile).
package noise
