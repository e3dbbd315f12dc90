package noise

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testdataDir = "../../testdata/sv2"

func readJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// readCSV returns the rows of a CSV vector file as header→value maps.
func readCSV(t testing.TB, rel string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := make(map[string]string, len(r))
		for i, k := range recs[0] {
			m[k] = r[i]
		}
		rows = append(rows, m)
	}
	return rows
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func unhex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("hex %q: %d bytes, need 32", s, len(b))
	}
	return [32]byte(b)
}

func unhex64(t testing.TB, s string) [64]byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 64 {
		t.Fatalf("hex %q: %d bytes, need 64", s, len(b))
	}
	return [64]byte(b)
}

// handshakeVector mirrors noise/handshake_derived.json.
type handshakeVector struct {
	Keys map[string]string `json:"keys"`
	Init struct {
		CK string `json:"ck"`
		H  string `json:"h"`
	} `json:"init"`
	Act1 struct {
		Message        string `json:"message_hex"`
		HAfterE        string `json:"h_after_mixhash_e"`
		HAfterEmptyPay string `json:"h_after_mixhash_empty_payload"`
	} `json:"act1_initiator_to_responder"`
	Act2 struct {
		Message      string `json:"message_hex"`
		HAfterRE     string `json:"h_after_mixhash_re"`
		ECDHee       string `json:"ecdh_ee"`
		CKAfterEE    string `json:"ck_after_ee"`
		KAfterEE     string `json:"k_after_ee"`
		EncStatic    string `json:"encrypted_static"`
		HAfterStatic string `json:"h_after_static"`
		ECDHes       string `json:"ecdh_es"`
		CKAfterES    string `json:"ck_after_es"`
		KAfterES     string `json:"k_after_es"`
		Cert         struct {
			ValidFrom     uint32 `json:"valid_from"`
			NotValidAfter uint32 `json:"not_valid_after"`
			Message       string `json:"signature_noise_message"`
		} `json:"cert"`
		EncCert string `json:"encrypted_signature_noise_message"`
		HFinal  string `json:"h_final"`
		Split   struct {
			K1 string `json:"k1_initiator_to_responder"`
			K2 string `json:"k2_responder_to_initiator"`
		} `json:"split"`
	} `json:"act2_responder_to_initiator"`
	Transport map[string]json.RawMessage `json:"transport"`
}

type frameVector struct {
	Header      string `json:"plaintext_header"`
	Payload     string `json:"plaintext_payload"`
	CTHeader    string `json:"ciphertext_header_22"`
	CTPayload   string `json:"ciphertext_payload"`
	Wire        string `json:"wire"`
	PayloadLen  int    `json:"payload_len"`
	PayloadHash string `json:"payload_sha256"`
	WireLen     int    `json:"wire_len"`
	WireHash    string `json:"wire_sha256"`
	Chunks      []struct {
		Nonce   int    `json:"nonce"`
		CTLen   int    `json:"ct_len"`
		First32 string `json:"ct_first32"`
		Last32  string `json:"ct_last32_incl_tag"`
	} `json:"chunks"`
}

func (v *handshakeVector) frame(t testing.TB, name string) frameVector {
	t.Helper()
	var f frameVector
	if err := json.Unmarshal(v.Transport[name], &f); err != nil {
		t.Fatalf("transport.%s: %v", name, err)
	}
	return f
}

func loadHandshakeVector(t testing.TB) *handshakeVector {
	var v handshakeVector
	readJSON(t, "noise/handshake_derived.json", &v)
	return &v
}

// vectorKeys returns the fixed key pairs of the handshake vector.
func vectorKeys(t testing.TB, v *handshakeVector) (ei, er, sr *KeyPair, authority *AuthorityKey) {
	t.Helper()
	kp := func(prefix string) *KeyPair {
		k, err := KeyPairFromEncoding(unhex(t, v.Keys[prefix+"_secret"]), unhex64(t, v.Keys[prefix+"_ellswift"]))
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		if x := k.XOnly(); hex.EncodeToString(x[:]) != v.Keys[prefix+"_xonly"] {
			t.Fatalf("%s: xonly %x, vector %s", prefix, x, v.Keys[prefix+"_xonly"])
		}
		return k
	}
	a, err := AuthorityKeyFromSecret(unhex(t, v.Keys["authority_secret"]))
	if err != nil {
		t.Fatal(err)
	}
	return kp("initiator_ephemeral"), kp("responder_ephemeral"), kp("responder_static"), a
}

// fixedConfig returns a Config whose ephemeral key is k and whose clock
// reads now.
func fixedConfig(k *KeyPair, now int64) *Config {
	cfg := DefaultConfig()
	cfg.Ephemeral = func() (*KeyPair, error) { return k, nil }
	cfg.Now = func() time.Time { return time.Unix(now, 0) }
	return cfg
}

// vectorNow lies inside the vector certificate's window.
const vectorNow = 1780000000
