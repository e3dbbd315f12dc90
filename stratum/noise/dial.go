package noise

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Client runs the initiator handshake on conn and returns the encrypted
// connection. It accepts only a server whose certificate authority signed
// and whose window contains cfg's clock (a zero authority needs
// cfg.InsecureSkipVerify). The handshake is bounded by cfg.HandshakeTimeout;
// on error the caller still owns conn and should close it.
func Client(conn net.Conn, authority AuthorityPublicKey, cfg *Config) (*Conn, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	hs, err := NewInitiator(authority, cfg)
	if err != nil {
		return nil, err
	}
	if err := setHandshakeDeadline(conn, cfg); err != nil {
		return nil, err
	}
	act1, err := hs.Act1()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(act1[:]); err != nil {
		return nil, fmt.Errorf("noise: sending act 1: %w", err)
	}
	var act2 [Act2Size]byte
	if _, err := io.ReadFull(conn, act2[:]); err != nil {
		return nil, fmt.Errorf("noise: reading act 2: %w", err)
	}
	sess, err := hs.ReadAct2(act2[:])
	if err != nil {
		return nil, err
	}
	if err := clearHandshakeDeadline(conn, cfg); err != nil {
		return nil, err
	}
	return NewConn(conn, sess, cfg)
}

// Server runs the responder handshake on conn, presenting the static key and
// its certificate. The handshake is bounded by cfg.HandshakeTimeout; on
// error the caller still owns conn and should close it.
func Server(conn net.Conn, static *KeyPair, cert Certificate, cfg *Config) (*Conn, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	hs, err := NewResponder(static, cert, cfg)
	if err != nil {
		return nil, err
	}
	if err := setHandshakeDeadline(conn, cfg); err != nil {
		return nil, err
	}
	var act1 [Act1Size]byte
	if _, err := io.ReadFull(conn, act1[:]); err != nil {
		return nil, fmt.Errorf("noise: reading act 1: %w", err)
	}
	if err := hs.ReadAct1(act1[:]); err != nil {
		return nil, err
	}
	act2, sess, err := hs.Act2()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(act2[:]); err != nil {
		return nil, fmt.Errorf("noise: sending act 2: %w", err)
	}
	if err := clearHandshakeDeadline(conn, cfg); err != nil {
		return nil, err
	}
	return NewConn(conn, sess, cfg)
}

// Dial connects to address and runs Client. Cancelling ctx aborts both the
// dial and the handshake.
func Dial(ctx context.Context, network, address string, authority AuthorityPublicKey, cfg *Config) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		// An expired deadline unblocks the handshake's reads and writes.
		_ = c.SetDeadline(time.Unix(1, 0))
	})
	nc, err := Client(c, authority, cfg)
	if !stop() {
		c.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return nc, nil
}

func setHandshakeDeadline(conn net.Conn, cfg *Config) error {
	if cfg.HandshakeTimeout <= 0 {
		return nil
	}
	// Network deadlines follow the wall clock, not cfg.Now, which only
	// governs certificate validity.
	if err := conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout)); err != nil {
		return fmt.Errorf("noise: setting handshake deadline: %w", err)
	}
	return nil
}

func clearHandshakeDeadline(conn net.Conn, cfg *Config) error {
	if cfg.HandshakeTimeout <= 0 {
		return nil
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("noise: clearing handshake deadline: %w", err)
	}
	return nil
}
