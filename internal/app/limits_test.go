package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/sim/miner"
)

// limitsFile is a hashgate.toml with one sv1 listener, a push site meter and /metrics open, plus
// extra (a [limits] table, listener keys).
func limitsFile(t *testing.T, paddr, listener, limits string) *config.File {
	t.Helper()
	text := fmt.Sprintf(`
[[listener]]
protocol = "sv1"
address  = "127.0.0.1:0"
%s

[[pool]]
name = "p"
url  = "stratum+tcp://%s"
user = "acct"

[difficulty]
initial           = 0.000001
min               = 0.0000001
shares_per_minute = 60.0

%s

[store]
path = %q

[console]
address        = "127.0.0.1:0"
public_metrics = true

[policy]
import_limit_kw = 1000.0
margin_kw       = 10.0

[[meter]]
name       = "grid"
role       = "site_import"
source     = "http"
push_token = "push-token-0123456789"
unit       = "kW"
`, listener, paddr, limits, filepath.Join(t.TempDir(), "hashgate.db"))
	f, err := config.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// controlPaths is the console as an operator's tools reach it, each call on a new connection.
type controlPaths struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newControlPaths(t *testing.T, addr net.Addr) *controlPaths {
	return &controlPaths{t: t, base: "http://" + addr.String(),
		c: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (cp *controlPaths) do(method, path, body string) (int, string) {
	cp.t.Helper()
	req, err := http.NewRequest(method, cp.base+path, strings.NewReader(body))
	if err != nil {
		cp.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer push-token-0123456789")
	}
	res, err := cp.c.Do(req)
	if err != nil {
		cp.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// healthy checks /healthz and a meter push answer as they should.
func (cp *controlPaths) healthy() {
	cp.t.Helper()
	if code, body := cp.do("GET", "/healthz", ""); code != http.StatusOK {
		cp.t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := cp.do("POST", "/api/v1/meters/grid/push", `{"value": 420.5}`); code != http.StatusNoContent {
		cp.t.Fatalf("meter push: %d %s", code, body)
	}
}

// metric reads one sample of /metrics (-1 when absent).
func (cp *controlPaths) metric(series string) float64 {
	cp.t.Helper()
	code, body := cp.do("GET", "/metrics", "")
	if code != http.StatusOK {
		cp.t.Fatalf("/metrics: %d", code)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// readRefusal reads the JSON error a V1 connection refused over a limit gets, then the close.
func readRefusal(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, _ := io.ReadAll(c)
	if !bytes.HasPrefix(b, []byte(`{"id":null,"result":null,"error":[20,"Too many connections`)) {
		t.Fatalf("refused connection got %q", b)
	}
}

// TestConnectionLimitsFromConfig: [limits] from hashgate.toml reaches the listeners. With
// max_connections open, the next miner reads a JSON error; the console and a meter push keep
// working; /metrics counts it; setup_timeout closes the two connections that never
// authorized, and then a miner mines.
func TestConnectionLimitsFromConfig(t *testing.T) {
	_, paddr := startTestPool(t)
	f := limitsFile(t, paddr, "", "[limits]\nmax_connections = 2\nsetup_timeout = \"5s\"\n")
	a, err := Start(context.Background(), f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	stratum := a.Addrs[0].String()
	cp := newControlPaths(t, a.ConsoleAddr)

	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", stratum)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// Dialed at once, well inside setup_timeout: the third finds both places taken.
	c, err := net.Dial("tcp", stratum)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readRefusal(t, c)
	cp.healthy()
	waitFor(t, "the refusal in /metrics", func() bool {
		return cp.metric(`hashgate_stratum_connections_refused_total{reason="max_connections"}`) == 1
	})

	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("connection that never authorized not closed after setup_timeout: %v", err)
		}
	}
	waitFor(t, "the setup timeouts in /metrics", func() bool {
		return cp.metric(`hashgate_stratum_connections_closed_total{reason="setup_timeout"}`) == 2 &&
			cp.metric("hashgate_stratum_connections") == 0
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := miner.New(miner.Config{Addr: stratum, Username: "rack1.after", HashRate: 50000})
	go m.Run(ctx)
	waitFor(t, "a miner mining in a freed place", func() bool { return m.Stats.Accepted.Load() > 0 })
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSListenerFromConfig: an sv1 [[listener]] with tls_cert_file and tls_key_file serves
// Stratum over TLS; a missing file fails the start naming the key.
func TestTLSListenerFromConfig(t *testing.T) {
	_, paddr := startTestPool(t)
	cf, kf, pool := writeSelfSigned(t, t.TempDir())
	f := limitsFile(t, paddr, fmt.Sprintf("tls_cert_file = %q\ntls_key_file = %q", cf, kf), "")
	a, err := Start(context.Background(), f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c, err := tls.Dial("tcp", a.Addrs[0].String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"tls/1.0\"]}\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, `{"id":1,"result":[`) {
		t.Fatalf("subscribe over TLS: %q %v", line, err)
	}

	bad := limitsFile(t, paddr, fmt.Sprintf("tls_cert_file = %q\ntls_key_file = %q", cf, kf+".missing"), "")
	if b, err := Start(context.Background(), bad, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "listener[0]: tls_key_file:") {
		if b != nil {
			b.Close()
		}
		t.Fatalf("missing key file: %v", err)
	}
}

// fdChildEnv carries the pool address to the child process of TestFDReserveKeepsControlPaths.
const fdChildEnv = "HASHGATE_TEST_FD_CHILD_POOL"

// TestFDReserveKeepsControlPaths runs hashgate in a child process whose RLIMIT_NOFILE is 256
// and whose [limits] fd_reserve is 64, and opens 240 idle stratum connections to it: more
// than the descriptors left after the store, the console and the pool connection. The
// stratum side stops at 192 (the rest read a JSON error and are closed); /healthz, a meter push
// and /metrics on new connections still answer; a miner gets in once some idle ones leave.
func TestFDReserveKeepsControlPaths(t *testing.T) {
	if paddr := os.Getenv(fdChildEnv); paddr != "" {
		fdChild(t, paddr)
		return
	}
	_, paddr := startTestPool(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDReserveKeepsControlPaths$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+paddr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close() // the child stops when its stdin ends
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "hashgate-fd-child "); ok {
				addrs <- strings.Fields(rest)
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { exited <- cmd.Wait() }()
	var stratum, consoleAddr string
	select {
	case a := <-addrs:
		stratum, consoleAddr = a[0], a[1]
	case err := <-exited:
		exited <- err
		t.Fatalf("child exited: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("child did not start\n%s", stderr.String())
	}
	cp := &controlPaths{t: t, base: "http://" + consoleAddr,
		c: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}

	var idle []net.Conn
	for range 240 {
		c, err := net.Dial("tcp", stratum)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitFor(t, "the stratum side full and the rest refused", func() bool {
		return cp.metric("hashgate_stratum_connections") == 192 &&
			cp.metric(`hashgate_stratum_connections_refused_total{reason="fd_reserve"}`) == 48
	})
	if v := cp.metric("hashgate_stratum_connections_cap"); v != 192 {
		t.Fatalf("cap %v, want 192", v)
	}
	readRefusal(t, idle[len(idle)-1])
	cp.healthy()
	cp.healthy()

	for _, c := range idle[:20] {
		c.Close()
	}
	waitFor(t, "places given back", func() bool { return cp.metric("hashgate_stratum_connections") <= 172 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := miner.New(miner.Config{Addr: stratum, Username: "rack1.fd", HashRate: 50000})
	go m.Run(ctx)
	waitFor(t, "a miner mining", func() bool { return m.Stats.Accepted.Load() > 0 })
	cp.healthy()
}

// fdChild is the child process: RLIMIT_NOFILE 256 (soft and hard, so nothing raises it back),
// hashgate started with fd_reserve = 64, its addresses printed, running until stdin ends.
func fdChild(t *testing.T, paddr string) {
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 256, Max: 256}); err != nil {
		t.Fatal(err)
	}
	f := limitsFile(t, paddr, "", "[limits]\nfd_reserve = 64\n")
	a, err := Start(context.Background(), f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fmt.Printf("hashgate-fd-child %s %s\n", a.Addrs[0], a.ConsoleAddr)
	io.Copy(io.Discard, os.Stdin)
}
