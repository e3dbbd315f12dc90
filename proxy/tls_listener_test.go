package proxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// testCA issues server certificates for 127.0.0.1 that its pool trusts, as a site's own CA
// would for the proxy.
type testCA struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
	stamp time.Time // the modification time the next issued pair gets
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hashgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, stamp: time.Now()}
}

// issue writes a certificate with the given serial and its key as PEM files. Each pair is
// stamped a minute after the one before: a renewal comes long after the pair it replaces, and
// file systems stamp with a coarse clock that two writes in a test could share.
func (ca *testCA) issue(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "hashgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeStamped(t, ca, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeStamped(t, ca, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func writeStamped(t *testing.T, ca *testCA, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ca.stamp = ca.stamp.Add(time.Minute)
	if err := os.Chtimes(path, ca.stamp, ca.stamp); err != nil {
		t.Fatal(err)
	}
}

// dial connects a TLS client that trusts only the test CA and returns the serial the server
// presented.
func (ca *testCA) dial(t *testing.T, addr string) (*tls.Conn, int64) {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*tls.Conn)
	return tc, tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// levelBuffer collects log lines at Info and above: what an operator sees.
func levelBuffer() (*syncBuffer, *zerolog.Logger) {
	buf := &syncBuffer{}
	l := zerolog.New(buf).Level(zerolog.InfoLevel)
	return buf, &l
}

// TestTLSListenerMinesEndToEnd: a TLS client trusting the site's CA subscribes, authorizes and
// submits a share that meets the pool's target through the stratum+ssl listener; the miner is
// answered true and the simulated pool accepts the share.
func TestTLSListenerMinesEndToEnd(t *testing.T) {
	sp, paddr := startPool(t, nil)
	px, _ := startProxy(t, testConfig(paddr), Options{})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	ca.issue(t, cf, kf, 7)
	addr, err := px.ListenV1TLS("127.0.0.1:0", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	tc, serial := ca.dial(t, addr.String())
	if serial != 7 {
		t.Fatalf("server presented serial %d", serial)
	}
	m := &shareMiner{rawMiner: &rawMiner{t: t, c: tc, br: bufio.NewReaderSize(tc, 1<<20)}, worker: "rack3.tls-01", diff: 1, id: 100}
	m.send(`{"id":1,"method":"mining.subscribe","params":["tls/1.0"]}`)
	m.send(`{"id":2,"method":"mining.authorize","params":["rack3.tls-01","x"]}`)
	var sr sv1.SubscribeResult
	if sub := m.reply("1"); sub.Error != nil || json.Unmarshal(sub.Result, &sr) != nil {
		t.Fatalf("subscribe over TLS: %s %v", sub.Result, sub.Error)
	}
	m.en1, m.n2 = sr.Extranonce1, sr.Extranonce2Size
	if a := m.reply("2"); !a.Accepted() {
		t.Fatalf("authorize over TLS: %v", a.Error)
	}
	m.nextJob()
	poolTarget, err := work.TargetFromDifficulty(1e-5) // startPool's difficulty
	if err != nil {
		t.Fatal(err)
	}
	before := sp.Accepted()
	s := m.find(func(h *[32]byte) bool { return poolTarget.Met(h) })
	if r := m.submit(s); !r.Accepted() {
		t.Fatalf("share over TLS: %s %v", r.Result, r.Error)
	}
	eventually(t, "the pool accepting the share", func() bool { return sp.Accepted() > before })
	if w := workerRow(t, px, "rack3.tls-01"); w.Protocol != "sv1" || w.Shares["accepted"] == 0 {
		t.Fatalf("worker row %+v", w)
	}
}

// TestTLSCertificateRotation: a new pair written over the files is served to new connections
// within a second (the check's period, on the proxy's clock), without a restart; a broken pair
// keeps the certificate in use and is logged once; the next good pair is picked up.
func TestTLSCertificateRotation(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	buf, log := levelBuffer()
	px, _ := startProxy(t, testConfig(paddr), Options{Clock: clk, Logger: log})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	ca.issue(t, cf, kf, 1)
	addr, err := px.ListenV1TLS("127.0.0.1:0", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	a := addr.String()
	serial := func() int64 { _, s := ca.dial(t, a); return s }
	if s := serial(); s != 1 {
		t.Fatalf("first certificate: serial %d", s)
	}

	ca.issue(t, cf, kf, 2)
	if s := serial(); s != 1 {
		t.Fatalf("files re-read within the second: serial %d", s)
	}
	clk.Advance(1100 * time.Millisecond)
	if s := serial(); s != 2 {
		t.Fatalf("renewed certificate not served after a second: serial %d", s)
	}

	writeStamped(t, ca, kf, []byte("-----BEGIN EC PRIVATE KEY-----\nnot a key\n-----END EC PRIVATE KEY-----\n"))
	for range 3 {
		clk.Advance(1100 * time.Millisecond)
		if s := serial(); s != 2 {
			t.Fatalf("a broken pair replaced the certificate in use: serial %d", s)
		}
	}
	if n := buf.count("reloading the TLS certificate failed"); n != 1 {
		t.Fatalf("broken pair logged %d times, want once", n)
	}

	ca.issue(t, cf, kf, 3)
	clk.Advance(1100 * time.Millisecond)
	if s := serial(); s != 3 {
		t.Fatalf("good pair after a broken one: serial %d", s)
	}
	if n := buf.count("TLS certificate reloaded"); n != 2 {
		t.Fatalf("%d reloads logged, want 2", n)
	}
}

// TestListenV1TLSNamesTheBadFile: a missing file or a pair that does not load fails at start,
// naming the key.
func TestListenV1TLSNamesTheBadFile(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, _ := startProxy(t, testConfig(paddr), Options{})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	if _, err := px.ListenV1TLS("127.0.0.1:0", cf, kf); err == nil || !strings.HasPrefix(err.Error(), "tls_cert_file:") {
		t.Fatalf("missing certificate: %v", err)
	}
	ca.issue(t, cf, kf, 1)
	if _, err := px.ListenV1TLS("127.0.0.1:0", cf, filepath.Join(dir, "nope.key")); err == nil || !strings.HasPrefix(err.Error(), "tls_key_file:") {
		t.Fatalf("missing key: %v", err)
	}
	other := filepath.Join(dir, "other.key")
	ca.issue(t, filepath.Join(dir, "other.crt"), other, 2)
	if _, err := px.ListenV1TLS("127.0.0.1:0", cf, other); err == nil || !strings.Contains(err.Error(), "tls_key_file") {
		t.Fatalf("key of another certificate: %v", err)
	}
}

// TestTLSStalledHandshakeDelaysNobody: a peer that opens the TLS port and says nothing (or a
// partial ClientHello) does not delay another miner's handshake, and is closed when
// setup_timeout passes.
func TestTLSStalledHandshakeDelaysNobody(t *testing.T) {
	_, paddr := startPool(t, nil)
	clk := clock.NewManual(time.Now())
	px, _ := startProxy(t, testConfig(paddr), Options{Clock: clk})
	ca := newTestCA(t)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	ca.issue(t, cf, kf, 1)
	addr, err := px.ListenV1TLS("127.0.0.1:0", cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	silent := dialFrom(t, "127.0.0.1", addr.String())
	partial := dialFrom(t, "127.0.0.1", addr.String())
	partial.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}) // a record header and one byte of 512
	eventually(t, "both accepted", func() bool { return px.Status().Conns.Open == 2 })
	tc, _ := ca.dial(t, addr.String())
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	tc.Write([]byte(`{"id":1,"method":"mining.extranonce.subscribe","params":[]}` + "\n"))
	if line, err := bufio.NewReader(tc).ReadString('\n'); err != nil || line != `{"id":1,"result":true,"error":null}`+"\n" {
		t.Fatalf("miner behind two stalled handshakes: %q %v", line, err)
	}
	clk.Advance(31 * time.Second)
	wantClosedSilently(t, silent)
	partial.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(partial); isTimeout(err) {
		t.Fatal("partial ClientHello not closed after setup_timeout")
	}
	// The third never authorized either.
	eventually(t, "counted", func() bool { return px.Status().Conns.Closed["setup_timeout"] == 3 })
}
