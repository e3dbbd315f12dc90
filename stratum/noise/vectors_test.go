package noise

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// TestBIP324EllSwiftDecode checks DecodeEllSwift against every BIP324
// decode vector.
func TestBIP324EllSwiftDecode(t *testing.T) {
	rows := readCSV(t, "bip324/ellswift_decode_test_vectors.csv")
	if len(rows) != 76 {
		t.Fatalf("%d rows, want 76", len(rows))
	}
	for i, r := range rows {
		x, err := DecodeEllSwift(unhex64(t, r["ellswift"]))
		if err != nil {
			t.Fatalf("row %d (%s): %v", i, r["comment"], err)
		}
		if got := hex.EncodeToString(x[:]); got != r["x"] {
			t.Errorf("row %d (%s): x %s, want %s", i, r["comment"], got, r["x"])
		}
	}
}

// TestBIP324XSwiftECInv checks the inverse map that KeyPair encoding relies
// on (xswiftecInv), for every case of every vector, and that each result
// decodes back.
func TestBIP324XSwiftECInv(t *testing.T) {
	rows := readCSV(t, "bip324/xswiftec_inv_test_vectors.csv")
	for i, r := range rows {
		for c := 0; c < 8; c++ {
			var u, x btcec.FieldVal
			u.SetByteSlice(unhex(t, r["u"]))
			u.Normalize()
			x.SetByteSlice(unhex(t, r["x"]))
			x.Normalize()
			want := r["case"+string(rune('0'+c))+"_t"]
			tv, ok := xswiftecInv(&u, &x, c)
			if !ok {
				if want != "" {
					t.Errorf("row %d case %d: no t, want %s", i, c, want)
				}
				continue
			}
			b := tv.Bytes()
			if got := hex.EncodeToString(b[:]); got != want {
				t.Errorf("row %d case %d: t %s, want %q", i, c, got, want)
				continue
			}
			var enc [64]byte
			copy(enc[:32], unhex(t, r["u"]))
			copy(enc[32:], b[:])
			dx, err := DecodeEllSwift(enc)
			if err != nil || hex.EncodeToString(dx[:]) != r["x"] {
				t.Errorf("row %d case %d: decodes to %x (%v), want %s", i, c, dx, err, r["x"])
			}
		}
	}
}

// TestBIP324V2ECDH runs the SV2 ECDH (our ecdh over KeyPairFromEncoding)
// on the BIP324 v2_ecdh vectors, in both roles.
func TestBIP324V2ECDH(t *testing.T) {
	rows := readCSV(t, "bip324/v2_ecdh_subset.csv")
	if len(rows) != 7 {
		t.Fatalf("%d rows, want 7", len(rows))
	}
	for _, r := range rows {
		ours, err := KeyPairFromEncoding(unhex(t, r["in_priv_ours"]), unhex64(t, r["in_ellswift_ours"]))
		if err != nil {
			t.Fatalf("idx %s: %v", r["in_idx"], err)
		}
		if x := ours.XOnly(); hex.EncodeToString(x[:]) != r["mid_x_ours"] {
			t.Errorf("idx %s: x_ours %x", r["in_idx"], x)
		}
		theirX, err := DecodeEllSwift(unhex64(t, r["in_ellswift_theirs"]))
		if err != nil || hex.EncodeToString(theirX[:]) != r["mid_x_theirs"] {
			t.Errorf("idx %s: x_theirs %x (%v)", r["in_idx"], theirX, err)
		}
		secret, err := ecdh(ours, unhex64(t, r["in_ellswift_theirs"]), r["in_initiating"] == "1")
		if err != nil {
			t.Fatalf("idx %s: %v", r["in_idx"], err)
		}
		if got := hex.EncodeToString(secret[:]); got != r["mid_shared_secret"] {
			t.Errorf("idx %s: shared secret %s, want %s", r["in_idx"], got, r["mid_shared_secret"])
		}
	}
}

// TestBIP340 checks our signing and verification wrappers (btcd underneath)
// on every vector with a 32-byte message, the only length certificates use.
func TestBIP340(t *testing.T) {
	checked := 0
	for _, r := range readCSV(t, "bip340/test-vectors.csv") {
		msg := unhex(t, r["message"])
		if len(msg) != 32 {
			continue
		}
		checked++
		pub := AuthorityPublicKey(unhex32(t, r["public key"]))
		sig := unhex64(t, r["signature"])
		wantOK := r["verification result"] == "TRUE"
		err := verifySchnorr(pub, [32]byte(msg), sig)
		if (err == nil) != wantOK {
			t.Errorf("index %s (%s): verify err=%v, want ok=%v", r["index"], r["comment"], err, wantOK)
		}
		if r["secret key"] == "" {
			continue
		}
		key, err := AuthorityKeyFromSecret(unhex(t, r["secret key"]))
		if err != nil {
			t.Fatalf("index %s: %v", r["index"], err)
		}
		if key.PublicKey() != pub {
			t.Errorf("index %s: public key %x", r["index"], key.PublicKey())
		}
		got, err := signSchnorr(key, [32]byte(msg), unhex32(t, r["aux_rand"]))
		if err != nil {
			t.Fatalf("index %s: %v", r["index"], err)
		}
		if !bytes.Equal(got[:], sig[:]) {
			t.Errorf("index %s: signature %X, want %s", r["index"], got, strings.ToUpper(r["signature"]))
		}
	}
	if checked != 15 {
		t.Fatalf("checked %d vectors, want 15", checked)
	}
}

func TestConstants(t *testing.T) {
	var v struct {
		Name  string         `json:"protocol_name_ascii"`
		CK0   string         `json:"ck0_sha256_protocol_name"`
		H0    string         `json:"h0_sha256_ck0"`
		Sizes map[string]int `json:"sizes"`
	}
	readJSON(t, "noise/constants.json", &v)
	if v.Name != ProtocolName {
		t.Errorf("protocol name %q", v.Name)
	}
	if hex.EncodeToString(initialCK[:]) != v.CK0 || hex.EncodeToString(initialH[:]) != v.H0 {
		t.Errorf("ck0 %x h0 %x", initialCK, initialH)
	}
	for name, want := range map[string]int{
		"ACT1_MESSAGE_SIZE":                             Act1Size,
		"ACT2_MESSAGE_SIZE":                             Act2Size,
		"SIGNATURE_NOISE_MESSAGE_SIZE":                  CertificateSize,
		"ENCRYPTED_SV2_FRAME_HEADER_SIZE":               EncryptedHeaderSize,
		"NOISE_MAX_MESSAGE_SIZE (SV2_FRAME_CHUNK_SIZE)": MaxChunkSize,
		"MAX_PLAINTEXT_PER_CHUNK":                       MaxChunkPlaintext,
		"MAX_SV2_PAYLOAD (U24)":                         MaxPayload,
		"ELLSWIFT_ENCODING_SIZE":                        EllSwiftSize,
		"AEAD_MAC_LEN":                                  MACSize,
	} {
		if got, ok := v.Sizes[name]; !ok || got != want {
			t.Errorf("%s: vector %d (present %v), code %d", name, got, ok, want)
		}
	}
	for n, want := range map[int]int{0: 0, 1: 17, 65519: 65535, 65520: 65535 + 17, 70000: 65535 + 4497} {
		if got := encryptedPayloadLen(n); got != want {
			t.Errorf("encryptedPayloadLen(%d) = %d, want %d", n, got, want)
		}
	}
}
