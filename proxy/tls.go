package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
)

// ListenV1TLS listens on a TCP address for Stratum V1 miners over TLS (stratum+ssl://) and
// serves until Close. The certificate chain and key are PEM files, read again when they
// change, so a renewed certificate is served without a restart. It returns the bound address.
func (p *Proxy) ListenV1TLS(addr, certFile, keyFile string) (net.Addr, error) {
	cf, err := loadCertFiles(certFile, keyFile, p.clk, p.log)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p.guard.noteTLS(l.Addr())
	// Handshakes run on each connection's goroutine at its first read, bounded by
	// setup_timeout: a peer that stalls its handshake delays nobody.
	p.serveV1(tls.NewListener(p.guard.listener(l, nil), &tls.Config{GetCertificate: cf.get}))
	return l.Addr(), nil
}

// certCheckEvery is how often, at most, the files are looked at (on a handshake).
const certCheckEvery = time.Second

// certFiles serves a certificate from files and picks up new ones: on a handshake, at most
// once per certCheckEvery, it compares the files' size and modification time with the ones it
// loaded and reads them again when they differ. A new pair that does not load (half written,
// key not matching) leaves the old certificate in use and is logged once.
type certFiles struct {
	certFile, keyFile string
	clk               clock.Clock
	log               zerolog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  fileStamp
	failed  fileStamp // a changed pair that did not load: not read again until it changes
	checked time.Time
	lastErr string // the last reload error logged, so a broken pair is logged once
}

// fileStamp is what is compared to notice a change of either file.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func stampFiles(certFile, keyFile string) (fileStamp, error) {
	ci, err := os.Stat(certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls_cert_file: %w", err)
	}
	ki, err := os.Stat(keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls_key_file: %w", err)
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// loadCertFiles reads the pair once; an error names the key whose file is wrong.
func loadCertFiles(certFile, keyFile string, clk clock.Clock, log zerolog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, clk: clk,
		log: log.With().Str("tls_cert_file", certFile).Str("tls_key_file", keyFile).Logger()}
	st, err := stampFiles(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_cert_file, tls_key_file: %w", err)
	}
	c.cert, c.loaded, c.checked = &cert, st, clk.Now()
	return c, nil
}

// get is tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.clk.Now(); now.Sub(c.checked) >= certCheckEvery {
		c.checked = now
		c.reload()
	}
	return c.cert, nil
}

// reload reads the files again if they changed; c.mu is held.
func (c *certFiles) reload() {
	st, err := stampFiles(c.certFile, c.keyFile)
	if err == nil && (st == c.loaded || st == c.failed) {
		return
	}
	var cert tls.Certificate
	if err == nil {
		if cert, err = tls.LoadX509KeyPair(c.certFile, c.keyFile); err != nil {
			c.failed = st
		}
	}
	if err != nil {
		if msg := err.Error(); msg != c.lastErr {
			c.lastErr = msg
			c.log.Error().Err(err).Msg("reloading the TLS certificate failed; the one in use stays")
		}
		return
	}
	c.cert, c.loaded, c.failed, c.lastErr = &cert, st, fileStamp{}, ""
	ev := c.log.Info()
	if cert.Leaf != nil {
		ev = ev.Time("not_after", cert.Leaf.NotAfter)
	}
	ev.Msg("TLS certificate reloaded")
}
