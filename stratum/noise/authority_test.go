package noise

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

type authorityVectors struct {
	Spec struct {
		Raw     string `json:"raw_ca_public_key_hex"`
		Payload string `json:"payload_hex"`
		Encoded string `json:"prefixed_base58check"`
	} `json:"spec_vector"`
	KeyUtils struct {
		Secret    string `json:"secret_base58check"`
		SecretHex string `json:"secret_hex"`
		Public    string `json:"public_base58check"`
		PublicHex string `json:"public_xonly_hex"`
		Invalid   []struct {
			String string `json:"string"`
			Error  string `json:"expected_error"`
		} `json:"invalid"`
	} `json:"sri_key_utils_test"`
	Example struct {
		Public    string `json:"public_base58check"`
		PublicHex string `json:"public_xonly_hex"`
		Secret    string `json:"secret_base58check"`
		SecretHex string `json:"secret_hex"`
	} `json:"sri_example_config_keys"`
}

func TestAuthorityKeyEncoding(t *testing.T) {
	var v authorityVectors
	readJSON(t, "noise/authority_keys_base58check.json", &v)

	spec := AuthorityPublicKey(unhex32(t, v.Spec.Raw))
	if got := EncodeAuthorityKey(spec); got != v.Spec.Encoded {
		t.Errorf("spec vector: %s, want %s", got, v.Spec.Encoded)
	}
	if k, err := DecodeAuthorityKey(v.Spec.Encoded); err != nil || k != spec {
		t.Errorf("spec vector decode: %x %v", k, err)
	}

	for _, pair := range []struct{ pub, pubHex, secret, secretHex string }{
		{v.KeyUtils.Public, v.KeyUtils.PublicHex, v.KeyUtils.Secret, v.KeyUtils.SecretHex},
		{v.Example.Public, v.Example.PublicHex, v.Example.Secret, v.Example.SecretHex},
	} {
		pub, err := DecodeAuthorityKey(pair.pub)
		if err != nil || hex.EncodeToString(pub[:]) != pair.pubHex {
			t.Errorf("%s: %x %v", pair.pub, pub, err)
		}
		if pub.String() != pair.pub {
			t.Errorf("%s: re-encodes as %s", pair.pub, pub)
		}
		secret, err := DecodeSecretKey(pair.secret)
		if err != nil || hex.EncodeToString(secret[:]) != pair.secretHex {
			t.Fatalf("%s: %x %v", pair.secret, secret, err)
		}
		if EncodeSecretKey(secret) != pair.secret {
			t.Errorf("secret re-encodes differently")
		}
		a, err := AuthorityKeyFromSecret(secret[:])
		if err != nil || a.PublicKey() != pub {
			t.Errorf("secret %s does not give %s", pair.secret, pair.pub)
		}
		if hk, err := ParseAuthorityPublicKeyHex(pair.pubHex); err != nil || hk != pub {
			t.Errorf("hex form: %v", err)
		}
	}

	for _, bad := range v.KeyUtils.Invalid {
		_, err := DecodeAuthorityKey(bad.String)
		if !errors.Is(err, ErrKeyEncoding) {
			t.Errorf("%s (%s): %v", bad.String, bad.Error, err)
			continue
		}
		// The error names the same defect as the vector.
		word := strings.Fields(bad.Error)[0]
		if word == "key" {
			word = strings.Fields(bad.Error)[1]
		}
		if !strings.Contains(err.Error(), word) && !(word == "length" && strings.Contains(err.Error(), "bytes")) {
			t.Errorf("%s: error %q does not mention %q", bad.String, err, word)
		}
	}
	for _, s := range []string{"", "0OIl", "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh0"} {
		if _, err := DecodeAuthorityKey(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestAuthorityTextMarshal(t *testing.T) {
	var v authorityVectors
	readJSON(t, "noise/authority_keys_base58check.json", &v)
	var k AuthorityPublicKey
	if err := k.UnmarshalText([]byte(v.Example.Public)); err != nil {
		t.Fatal(err)
	}
	b, _ := k.MarshalText()
	if string(b) != v.Example.Public {
		t.Errorf("%s", b)
	}
	if err := k.UnmarshalText([]byte(v.KeyUtils.Invalid[0].String)); err == nil {
		t.Error("bad checksum accepted")
	}
}

// TestSecretRange: secrets of zero or at least the group order are refused
// rather than silently reduced.
func TestSecretRange(t *testing.T) {
	n := unhex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	for _, s := range [][]byte{make([]byte, 32), n, make([]byte, 31)} {
		if _, err := AuthorityKeyFromSecret(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%x: %v", s, err)
		}
	}
}
