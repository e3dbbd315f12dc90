package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/app"
	"github.com/hashgate/hashgate/internal/config"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// freeAddr returns a loopback address nothing listens on (it did a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// siteConfig is a hashgate.toml for one loopback listener and one pool at poolAddr, with the
// console at consoleAddr and extra appended.
func siteConfig(dir, poolAddr, consoleAddr, extra string) string {
	return fmt.Sprintf(`
[[listener]]
protocol = "sv1"
address  = "127.0.0.1:0"

[[pool]]
name = "main"
url  = "stratum+tcp://%s"
user = "acct"

[proxy]
backoff_min = "100ms"
backoff_max = "500ms"

[store]
path = %q

[console]
address = %q
%s`, poolAddr, filepath.Join(dir, "hashgate.db"), consoleAddr, extra)
}

// startHashgate runs hashgate from config text until the test ends.
func startHashgate(t *testing.T, text string) *app.App {
	t.Helper()
	f, err := config.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(context.Background(), f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestHealthCommand runs hashgate from a config file whose pool is not up yet and runs
// `hashgate health` against it as a container would: not ready (exit 1, naming the pool)
// while alive (-live exits 0); ready once the pool comes up.
func TestHealthCommand(t *testing.T) {
	dir := t.TempDir()
	poolAddr := freeAddr(t)
	a := startHashgate(t, siteConfig(dir, poolAddr, "127.0.0.1:0", ""))
	// The health command reads the console address from the file, as in the container.
	path := filepath.Join(dir, "hashgate.toml")
	if err := os.WriteFile(path, []byte(siteConfig(dir, poolAddr, a.ConsoleAddr.String(), "")), 0o600); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err := cmdHealth([]string{"-c", path}, &out)
	if !errors.Is(err, errNotHealthy) || !strings.Contains(out.String(), "/readyz: 503") || !strings.Contains(out.String(), "pool FAIL") {
		t.Fatalf("no pool up: %v, printed %q", err, out.String())
	}
	out.Reset()
	if err := cmdHealth([]string{"-c", path, "-live"}, &out); err != nil || !strings.Contains(out.String(), "/healthz: 200 ok") {
		t.Fatalf("-live: %v, printed %q", err, out.String())
	}

	pc := simpool.DefaultConfig()
	pc.Difficulty, pc.JobInterval, pc.BlockInterval = 1e-5, 0, 0
	sp, err := simpool.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := sp.Listen(poolAddr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out.Reset()
		err := cmdHealth([]string{"-c", path}, &out)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready after the pool came up: %v, last printed %q", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "/readyz: 200 ready") || !strings.Contains(out.String(), "pool ok (up: main)") {
		t.Fatalf("ready: printed %q", out.String())
	}
	out.Reset()
	if err := cmdHealth([]string{"-url", "http://" + a.ConsoleAddr.String() + "/"}, &out); err != nil {
		t.Fatalf("-url: %v, printed %q", err, out.String())
	}

	// Nothing listening: an error, not a hang.
	if err := cmdHealth([]string{"-url", "http://" + freeAddr(t), "-timeout", "10s"}, &out); err == nil || errors.Is(err, errNotHealthy) {
		t.Fatalf("closed port: %v", err)
	}
	if err := cmdHealth([]string{"-c", filepath.Join(dir, "missing.toml")}, &out); err == nil {
		t.Fatal("a missing config file passed")
	}
}

func TestConsoleURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		":8080":          "http://127.0.0.1:8080",
		"[::]:8443":      "http://[::1]:8443",
		"10.1.2.3:80":    "http://10.1.2.3:80",
		"localhost:9000": "http://localhost:9000",
	} {
		if got, err := consoleURL(addr, false); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", addr, got, err, want)
		}
	}
	if got, _ := consoleURL("0.0.0.0:8443", true); got != "https://127.0.0.1:8443" {
		t.Errorf("TLS: %q", got)
	}
	if _, err := consoleURL("8080", false); err == nil {
		t.Error("an address without a port was accepted")
	}
}

// TestHashPasswordToken: -token prints a new token and the token_hash a console accepts it
// by; the password form prints a hash that verifies.
func TestHashPasswordToken(t *testing.T) {
	var out bytes.Buffer
	if err := cmdHashPassword([]string{"-token"}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var tok, hash string
	if _, err := fmt.Sscanf(out.String(), "token: %s\ntoken_hash: %s\n", &tok, &hash); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if !strings.HasPrefix(tok, "hg_") || len(tok) < 40 || hash != console.HashToken(tok) {
		t.Fatalf("token %q hash %q", tok, hash)
	}
	out.Reset()
	if err := cmdHashPassword([]string{"-token"}, strings.NewReader(""), &out); err != nil || strings.Contains(out.String(), tok) {
		t.Fatalf("a second token repeats the first: %q (%v)", out.String(), err)
	}

	// A console configured with the printed hash accepts the printed token.
	a := startHashgate(t, siteConfig(t.TempDir(), freeAddr(t), "127.0.0.1:0",
		"[[console.token]]\nname = \"ci\"\ntoken_hash = \""+hash+"\"\nrole = \"viewer\"\n"))
	for _, bearer := range []string{tok, tok + "x"} {
		req, _ := http.NewRequest("GET", "http://"+a.ConsoleAddr.String()+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if wantOK := bearer == tok; (res.StatusCode == http.StatusOK) != wantOK {
			t.Fatalf("bearer %q: %d", bearer, res.StatusCode)
		}
	}

	out.Reset()
	if err := cmdHashPassword(nil, strings.NewReader("a long password\n"), &out); err != nil {
		t.Fatal(err)
	}
	if h := strings.TrimSpace(out.String()); !console.VerifyPassword(h, "a long password") {
		t.Fatalf("hash %q does not verify", h)
	}
	if err := cmdHashPassword(nil, strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("a short password was hashed")
	}
	if err := cmdHashPassword([]string{"-nope"}, strings.NewReader(""), &out); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
}

// TestHealthCommandOverTLS: with tls_cert set the command asks over HTTPS, without checking a
// certificate issued for the console's public name; -url checks it as any client would.
func TestHealthCommandOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "hashgate.example")
	tlsKeys := fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", certFile, keyFile)
	a := startHashgate(t, siteConfig(dir, freeAddr(t), "127.0.0.1:0", tlsKeys))
	path := filepath.Join(dir, "hashgate.toml")
	if err := os.WriteFile(path, []byte(siteConfig(dir, freeAddr(t), a.ConsoleAddr.String(), tlsKeys)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cmdHealth([]string{"-c", path, "-live"}, &out); err != nil || !strings.Contains(out.String(), "https://") {
		t.Fatalf("-live over TLS: %v, printed %q", err, out.String())
	}
	err := cmdHealth([]string{"-url", "https://" + a.ConsoleAddr.String(), "-live"}, &out)
	var unverified *tls.CertificateVerificationError
	if !errors.As(err, &unverified) {
		t.Fatalf("-url with an unknown certificate authority: %v", err)
	}
}

// writeCert writes a self-signed certificate for name and its key.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "console.crt"), filepath.Join(dir, "console.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestContainerHealthChecksRunHealth: the Dockerfile's HEALTHCHECK and docker-compose.yml's
// healthcheck run this binary's health command, with flags it takes, on the config file the
// container runs with.
func TestContainerHealthChecksRunHealth(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	instr := func(name string) []string {
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				if _, after, ok := strings.Cut(rest, "CMD "); ok && name == "HEALTHCHECK" {
					rest = after
				}
				var args []string
				if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &args); err != nil {
					t.Fatalf("%s %s: %v", name, rest, err)
				}
				return args
			}
		}
		t.Fatalf("Dockerfile has no %s", name)
		return nil
	}
	entry, run, hc := instr("ENTRYPOINT"), instr("CMD"), instr("HEALTHCHECK")
	runOpts, err := parseHealthFlags(run[1:]) // run takes -c too
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, argv []string) {
		t.Helper()
		if len(argv) < 2 || argv[0] != entry[0] || argv[1] != "health" {
			t.Fatalf("%s: %q does not run %s health", where, argv, entry[0])
		}
		o, err := parseHealthFlags(argv[2:])
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if o.config != runOpts.config || o.url != "" {
			t.Fatalf("%s asks the console of %q, the container runs %q", where, o.config, runOpts.config)
		}
	}
	check("Dockerfile HEALTHCHECK", hc)

	cb, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command     []string `yaml:"command"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(cb, &compose); err != nil {
		t.Fatal(err)
	}
	hg := compose.Services["hashgate"]
	if len(hg.Healthcheck.Test) < 1 || hg.Healthcheck.Test[0] != "CMD" || !slices.Equal(hg.Command, run) {
		t.Fatalf("compose hashgate: command %q, healthcheck %q", hg.Command, hg.Healthcheck.Test)
	}
	check("docker-compose.yml healthcheck", hg.Healthcheck.Test[1:])
}
