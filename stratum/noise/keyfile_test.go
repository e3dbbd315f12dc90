package noise

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	a, err := GenerateAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert, err := IssueServerCertificate(a, s, from, from.AddDate(0, 6, 0), nil)
	if err != nil {
		t.Fatal(err)
	}

	ap := filepath.Join(dir, "authority.json")
	sp := filepath.Join(dir, "server.json")
	if err := WriteKeyFile(ap, NewAuthorityKeyFile(a)); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(sp, NewServerKeyFile(s, cert, a.PublicKey())); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ap, sp} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, st.Mode().Perm())
		}
	}
	if err := WriteKeyFile(ap, NewAuthorityKeyFile(a)); err == nil {
		t.Error("existing key file overwritten")
	}

	af, err := ReadKeyFile(ap)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := af.Authority()
	if err != nil || a2.Secret() != a.Secret() {
		t.Fatalf("authority round trip: %v", err)
	}
	if _, _, _, err := af.Server(); !errors.Is(err, ErrKeyFile) {
		t.Errorf("authority file read as server: %v", err)
	}

	sf, err := ReadKeyFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	s2, cert2, auth2, err := sf.Server()
	if err != nil {
		t.Fatal(err)
	}
	if s2.Secret() != s.Secret() || cert2 != cert || auth2 != a.PublicKey() {
		t.Error("server round trip differs")
	}
	if !sf.NotValidAfter.Equal(from.AddDate(0, 6, 0)) {
		t.Errorf("not_valid_after %s", sf.NotValidAfter)
	}

	// A certificate that does not match the key is refused on load.
	other, _ := NewKeyPair(nil)
	bad := NewServerKeyFile(other, cert, a.PublicKey())
	if _, _, _, err := bad.Server(); !errors.Is(err, ErrBadCertificate) {
		t.Errorf("mismatched certificate: %v", err)
	}
	// So is a public key that does not match the secret.
	tampered := *af
	tampered.PublicKey = EncodeAuthorityKey(other.XOnly())
	if _, err := tampered.Authority(); !errors.Is(err, ErrKeyFile) {
		t.Errorf("mismatched public key: %v", err)
	}

	garbage := filepath.Join(dir, "garbage.json")
	b, _ := json.Marshal(map[string]string{"kind": "other"})
	os.WriteFile(garbage, b, 0o600)
	if _, err := ReadKeyFile(garbage); !errors.Is(err, ErrKeyFile) {
		t.Errorf("unknown kind: %v", err)
	}
}

// TestKeyFileServes: a server built from key files handshakes with a client
// that knows only the authority string.
func TestKeyFileServes(t *testing.T) {
	ident := testIdentity(t)
	f := NewServerKeyFile(ident.static, ident.cert, ident.authority.PublicKey())
	static, cert, authority, err := f.Server()
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := DecodeAuthorityKey(f.AuthorityPublicKey)
	if err != nil || pinned != authority {
		t.Fatal(err)
	}
	rc, rs := rawPair(t, "pipe")
	go func() {
		if c, err := Server(rs, static, cert, testConfig()); err == nil {
			c.WriteFrame(header(0, 1, 2), []byte("ok"))
		}
	}()
	c, err := Client(rc, pinned, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadFrame(); err != nil || string(p) != "ok" {
		t.Fatalf("%q %v", p, err)
	}
}
