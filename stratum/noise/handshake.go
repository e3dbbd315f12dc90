package noise

import (
	"errors"
	"fmt"
)

// handshake steps shared by both roles.
type step uint8

const (
	stepStart step = iota
	stepSentAct1
	stepReadAct1
	stepDone
	stepFailed
)

// Session is the result of a finished handshake: one cipher per direction,
// and what the initiator learned about the server.
type Session struct {
	send, recv    cipherState
	handshakeHash [32]byte
	remoteStatic  [32]byte
	cert          Certificate
}

// HandshakeHash is the final transcript hash h, equal on both ends; it can
// bind higher layers to this session.
func (s *Session) HandshakeHash() [32]byte { return s.handshakeHash }

// RemoteStatic is the server's x-only static key (initiator side only).
func (s *Session) RemoteStatic() [32]byte { return s.remoteStatic }

// Certificate is the server's certificate (initiator side only).
func (s *Session) Certificate() Certificate { return s.cert }

// Initiator is the client side of the NX handshake as a pure state machine:
// Act1 produces the 64 bytes to send, ReadAct2 consumes the 234 bytes
// received. It performs no I/O.
type Initiator struct {
	cfg       *Config
	authority AuthorityPublicKey
	ss        symmetricState
	e         *KeyPair
	step      step
	trace     func(name string, ss *symmetricState)
}

// NewInitiator prepares a handshake that accepts only servers certified by
// authority. A zero authority is refused unless cfg.InsecureSkipVerify.
func NewInitiator(authority AuthorityPublicKey, cfg *Config) (*Initiator, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	if authority == (AuthorityPublicKey{}) && !cfg.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: no authority key and InsecureSkipVerify not set", ErrInvalidKey)
	}
	i := &Initiator{cfg: cfg, authority: authority}
	i.ss.init()
	return i, nil
}

// Act1 returns the first message, -> e: the ephemeral key's encoding.
func (i *Initiator) Act1() ([Act1Size]byte, error) {
	var msg [Act1Size]byte
	if i.step != stepStart {
		return msg, ErrHandshakeState
	}
	e, err := i.cfg.ephemeral()
	if err != nil {
		i.step = stepFailed
		return msg, err
	}
	i.e = e
	msg = e.EllSwift()
	i.ss.mixHash(msg[:])
	i.tr("act1_e", &i.ss)
	// EncryptAndHash of the empty payload with no key yet: h = SHA256(h).
	i.ss.mixHash(nil)
	i.tr("act1_payload", &i.ss)
	i.step = stepSentAct1
	return msg, nil
}

// ReadAct2 consumes <- e, ee, s, es, SIGNATURE_NOISE_MESSAGE, verifies the
// certificate and returns the transport session. Any failure ends the
// handshake.
func (i *Initiator) ReadAct2(msg []byte) (*Session, error) {
	if i.step != stepSentAct1 {
		return nil, ErrHandshakeState
	}
	s, err := i.readAct2(msg)
	if err != nil {
		i.step = stepFailed
		return nil, err
	}
	i.step = stepDone
	return s, nil
}

func (i *Initiator) readAct2(msg []byte) (*Session, error) {
	if len(msg) != Act2Size {
		return nil, fmt.Errorf("noise: act 2 is %d bytes, need %d", len(msg), Act2Size)
	}
	var re, rs [EllSwiftSize]byte
	copy(re[:], msg[:EllSwiftSize])
	msg = msg[EllSwiftSize:]
	i.ss.mixHash(re[:])
	i.tr("act2_e", &i.ss)

	ee, err := ecdh(i.e, re, true)
	if err != nil {
		return nil, err
	}
	i.ss.mixKey(ee[:])
	i.tr("act2_ee", &i.ss)

	if _, err := i.ss.decryptAndHash(rs[:0], msg[:EllSwiftSize+MACSize]); err != nil {
		return nil, fmt.Errorf("noise: act 2 static key: %w", err)
	}
	msg = msg[EllSwiftSize+MACSize:]
	i.tr("act2_s", &i.ss)
	// One decode gives both the key the certificate signs and the ECDH.
	rsP := decodeEllPoint(&rs)
	var rsX [32]byte
	rsP.x.PutBytes(&rsX)
	esX, esDen := rsP.mulX(&i.e.priv.Key)
	esDen.Inverse()
	esX.Mul(&esDen).Normalize()
	es := i.e.secretWith(&rs, &esX, true)
	i.ss.mixKey(es[:])
	i.tr("act2_es", &i.ss)

	var certBuf [CertificateSize]byte
	if _, err := i.ss.decryptAndHash(certBuf[:0], msg); err != nil {
		return nil, fmt.Errorf("noise: act 2 certificate: %w", err)
	}
	i.tr("act2_cert", &i.ss)
	cert, err := DecodeCertificate(certBuf[:])
	if err != nil {
		return nil, err
	}
	if i.authority != (AuthorityPublicKey{}) || !i.cfg.InsecureSkipVerify {
		if err := cert.Verify(i.authority, rsX, i.cfg.now(), i.cfg.CertLeeway); err != nil {
			return nil, err
		}
	}
	return i.ss.session(true, rsX, cert), nil
}

func (i *Initiator) tr(name string, ss *symmetricState) {
	if i.trace != nil {
		i.trace(name, ss)
	}
}

// Responder is the server side of the NX handshake as a pure state machine:
// ReadAct1 consumes the initiator's 64 bytes, Act2 produces the 234-byte
// reply and the session.
type Responder struct {
	cfg    *Config
	static *KeyPair
	cert   [CertificateSize]byte
	ss     symmetricState
	ei     [EllSwiftSize]byte
	step   step
	trace  func(name string, ss *symmetricState)
}

// NewResponder prepares a handshake presenting the static key and its
// certificate. The certificate is not checked here; IssueServerCertificate
// and ReadKeyFile do that.
func NewResponder(static *KeyPair, cert Certificate, cfg *Config) (*Responder, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	if static == nil {
		return nil, fmt.Errorf("%w: no static key", ErrInvalidKey)
	}
	r := &Responder{cfg: cfg, static: static, cert: cert.Encode()}
	r.ss.init()
	return r, nil
}

// ReadAct1 consumes -> e.
func (r *Responder) ReadAct1(msg []byte) error {
	if r.step != stepStart {
		return ErrHandshakeState
	}
	if len(msg) != Act1Size {
		r.step = stepFailed
		return fmt.Errorf("noise: act 1 is %d bytes, need %d", len(msg), Act1Size)
	}
	copy(r.ei[:], msg)
	r.ss.mixHash(r.ei[:])
	r.tr("act1_e", &r.ss)
	r.ss.mixHash(nil)
	r.tr("act1_payload", &r.ss)
	r.step = stepReadAct1
	return nil
}

// Act2 returns <- e, ee, s, es, SIGNATURE_NOISE_MESSAGE and the session.
func (r *Responder) Act2() ([Act2Size]byte, *Session, error) {
	var out [Act2Size]byte
	if r.step != stepReadAct1 {
		return out, nil, ErrHandshakeState
	}
	s, err := r.act2(out[:0])
	if err != nil {
		r.step = stepFailed
		return out, nil, err
	}
	r.step = stepDone
	return out, s, nil
}

func (r *Responder) act2(buf []byte) (*Session, error) {
	e, err := r.cfg.ephemeral()
	if err != nil {
		return nil, err
	}
	ell := e.EllSwift()
	buf = append(buf, ell[:]...)
	r.ss.mixHash(ell[:])
	r.tr("act2_e", &r.ss)

	// Both ECDHs multiply the initiator's key: decode it once and share
	// the final inversion.
	p := decodeEllPoint(&r.ei)
	eeX, eeDen := p.mulX(&e.priv.Key)
	esX, esDen := p.mulX(&r.static.priv.Key)
	invert2(&eeDen, &esDen)
	eeX.Mul(&eeDen).Normalize()
	esX.Mul(&esDen).Normalize()

	ee := e.secretWith(&r.ei, &eeX, false)
	r.ss.mixKey(ee[:])
	r.tr("act2_ee", &r.ss)

	sEll := r.static.EllSwift()
	if buf, err = r.ss.encryptAndHash(buf, sEll[:]); err != nil {
		return nil, err
	}
	r.tr("act2_s", &r.ss)

	es := r.static.secretWith(&r.ei, &esX, false)
	r.ss.mixKey(es[:])
	r.tr("act2_es", &r.ss)

	if buf, err = r.ss.encryptAndHash(buf, r.cert[:]); err != nil {
		return nil, err
	}
	r.tr("act2_cert", &r.ss)
	if len(buf) != Act2Size {
		return nil, errors.New("noise: internal error: act 2 length")
	}
	return r.ss.session(false, [32]byte{}, Certificate{}), nil
}

func (r *Responder) tr(name string, ss *symmetricState) {
	if r.trace != nil {
		r.trace(name, ss)
	}
}

// session splits the symmetric state into transport ciphers: k1 carries
// initiator→responder traffic and k2 the reverse, each from nonce 0.
func (s *symmetricState) session(initiator bool, remoteStatic [32]byte, cert Certificate) *Session {
	k1, k2 := s.split()
	out := &Session{handshakeHash: s.h, remoteStatic: remoteStatic, cert: cert}
	if initiator {
		out.send.initKey(k1)
		out.recv.initKey(k2)
	} else {
		out.send.initKey(k2)
		out.recv.initKey(k1)
	}
	return out
}
