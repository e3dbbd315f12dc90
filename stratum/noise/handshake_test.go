package noise

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestHandshakeVector replays noise/handshake_derived.json through both
// machines and compares every message and intermediate value.
func TestHandshakeVector(t *testing.T) {
	v := loadHandshakeVector(t)
	ei, er, sr, authority := vectorKeys(t, v)
	if got := EncodeAuthorityKey(authority.PublicKey()); got != v.Keys["authority_pubkey_base58check"] {
		t.Errorf("authority key %s", got)
	}
	cert, err := DecodeCertificate(unhex(t, v.Act2.Cert.Message))
	if err != nil {
		t.Fatal(err)
	}

	// want lists, per trace point, the fields to compare in order h, ck, k.
	type point struct{ h, ck, k string }
	want := map[string]point{
		"act1_e":       {h: v.Act1.HAfterE},
		"act1_payload": {h: v.Act1.HAfterEmptyPay},
		"act2_e":       {h: v.Act2.HAfterRE},
		"act2_ee":      {ck: v.Act2.CKAfterEE, k: v.Act2.KAfterEE},
		"act2_s":       {h: v.Act2.HAfterStatic},
		"act2_es":      {ck: v.Act2.CKAfterES, k: v.Act2.KAfterES},
		"act2_cert":    {h: v.Act2.HFinal},
	}
	check := func(role string) (func(string, *symmetricState), *int) {
		n := 0
		return func(name string, ss *symmetricState) {
			p, ok := want[name]
			if !ok {
				t.Errorf("%s: unexpected trace point %s", role, name)
				return
			}
			n++
			for _, f := range []struct {
				label, want string
				got         [32]byte
			}{
				{"h", p.h, ss.h}, {"ck", p.ck, ss.ck}, {"k", p.k, ss.k},
			} {
				if f.want != "" && hex.EncodeToString(f.got[:]) != f.want {
					t.Errorf("%s %s: %s = %x, want %s", role, name, f.label, f.got, f.want)
				}
			}
			if name == "act2_cert" {
				k1, k2 := ss.split()
				if hex.EncodeToString(k1[:]) != v.Act2.Split.K1 || hex.EncodeToString(k2[:]) != v.Act2.Split.K2 {
					t.Errorf("%s: split %x %x", role, k1, k2)
				}
			}
		}, &n
	}

	ini, err := NewInitiator(authority.PublicKey(), fixedConfig(ei, vectorNow))
	if err != nil {
		t.Fatal(err)
	}
	var iN, rN *int
	ini.trace, iN = check("initiator")
	res, err := NewResponder(sr, cert, fixedConfig(er, vectorNow))
	if err != nil {
		t.Fatal(err)
	}
	res.trace, rN = check("responder")

	if hex.EncodeToString(initialH[:]) != v.Init.H || hex.EncodeToString(initialCK[:]) != v.Init.CK {
		t.Fatal("initial state differs from vector")
	}
	act1, err := ini.Act1()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(act1[:]); got != v.Act1.Message {
		t.Fatalf("act 1 %s", got)
	}
	if err := res.ReadAct1(act1[:]); err != nil {
		t.Fatal(err)
	}
	act2, rs, err := res.Act2()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(act2[:]); got != v.Act2.Message {
		t.Fatalf("act 2\n got %s\nwant %s", got, v.Act2.Message)
	}
	if !bytes.Equal(act2[64:144], unhex(t, v.Act2.EncStatic)) || !bytes.Equal(act2[144:], unhex(t, v.Act2.EncCert)) {
		t.Error("act 2 sections differ")
	}
	is, err := ini.ReadAct2(act2[:])
	if err != nil {
		t.Fatal(err)
	}
	if *iN != len(want) || *rN != len(want) {
		t.Errorf("trace points: initiator %d, responder %d, want %d", *iN, *rN, len(want))
	}
	if is.HandshakeHash() != rs.HandshakeHash() || hex.EncodeToString(is.handshakeHash[:]) != v.Act2.HFinal {
		t.Errorf("handshake hash %x / %x", is.HandshakeHash(), rs.HandshakeHash())
	}
	if is.RemoteStatic() != sr.XOnly() || is.Certificate() != cert {
		t.Error("initiator learned the wrong static key or certificate")
	}

	ee, err := ecdh(ei, er.EllSwift(), true)
	if err != nil || hex.EncodeToString(ee[:]) != v.Act2.ECDHee {
		t.Errorf("ecdh ee %x (%v)", ee, err)
	}
	es, err := ecdh(sr, ei.EllSwift(), false)
	if err != nil || hex.EncodeToString(es[:]) != v.Act2.ECDHes {
		t.Errorf("ecdh es %x (%v)", es, err)
	}
}

// vectorAct2 returns an initiator that has sent the vector's act 1, and
// the vector's act 2.
func vectorAct2(t *testing.T, now int64, authority AuthorityPublicKey) (*Initiator, []byte) {
	t.Helper()
	v := loadHandshakeVector(t)
	ei, _, _, a := vectorKeys(t, v)
	if authority == (AuthorityPublicKey{}) {
		authority = a.PublicKey()
	}
	ini, err := NewInitiator(authority, fixedConfig(ei, now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ini.Act1(); err != nil {
		t.Fatal(err)
	}
	return ini, unhex(t, v.Act2.Message)
}

func TestInitiatorRejectsTamperedAct2(t *testing.T) {
	for _, i := range []int{0, 63, 64, 100, 143, 144, 200, 233} {
		ini, act2 := vectorAct2(t, vectorNow, AuthorityPublicKey{})
		act2[i] ^= 0x01
		_, err := ini.ReadAct2(act2)
		if err == nil {
			t.Errorf("byte %d flipped: accepted", i)
			continue
		}
		// Flipping ell(e_r) changes ee, so the static key no longer
		// decrypts; flipping ciphertext breaks its MAC.
		if !errors.Is(err, ErrDecrypt) {
			t.Errorf("byte %d flipped: %v, want ErrDecrypt", i, err)
		}
		if _, err := ini.ReadAct2(act2); !errors.Is(err, ErrHandshakeState) {
			t.Errorf("byte %d: failed machine reused: %v", i, err)
		}
	}
}

func TestInitiatorRejectsCertificate(t *testing.T) {
	var c certVector
	readJSON(t, "noise/certificate_derived.json", &c)
	cases := []struct {
		name      string
		now       int64
		authority string
		want      error
	}{
		{"expired", c.Cases[3].Now, "", ErrCertificateExpired},
		{"not yet valid", c.Cases[4].Now, "", ErrCertificateNotYetValid},
		{"wrong authority", vectorNow, c.Cases[1].Authority, ErrBadCertificate},
	}
	for _, tc := range cases {
		var a AuthorityPublicKey
		if tc.authority != "" {
			a = AuthorityPublicKey(unhex32(t, tc.authority))
		}
		ini, act2 := vectorAct2(t, tc.now, a)
		if _, err := ini.ReadAct2(act2); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestHandshakeWrongLengthsAndOrder(t *testing.T) {
	ini, act2 := vectorAct2(t, vectorNow, AuthorityPublicKey{})
	if _, err := ini.ReadAct2(act2[:233]); err == nil {
		t.Error("short act 2 accepted")
	}
	ini, err := NewInitiator(AuthorityPublicKey{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ini.ReadAct2(act2); !errors.Is(err, ErrHandshakeState) {
		t.Errorf("act 2 before act 1: %v", err)
	}
	if _, err := NewInitiator(AuthorityPublicKey{}, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("no authority: %v", err)
	}
	static, err := NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewResponder(static, Certificate{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := res.Act2(); !errors.Is(err, ErrHandshakeState) {
		t.Errorf("act 2 before act 1: %v", err)
	}
	if err := res.ReadAct1(make([]byte, 65)); err == nil {
		t.Error("65-byte act 1 accepted")
	}
}

// TestInsecureSkipVerify: with no authority and the option set, any
// certificate is taken, as SRI does without a configured key.
func TestInsecureSkipVerify(t *testing.T) {
	v := loadHandshakeVector(t)
	ei, _, _, _ := vectorKeys(t, v)
	cfg := fixedConfig(ei, 0) // far outside the window
	cfg.InsecureSkipVerify = true
	ini, err := NewInitiator(AuthorityPublicKey{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ini.Act1(); err != nil {
		t.Fatal(err)
	}
	if _, err := ini.ReadAct2(unhex(t, v.Act2.Message)); err != nil {
		t.Fatal(err)
	}
}
