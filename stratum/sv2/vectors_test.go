package sv2

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

const framesDir = "../../testdata/sv2/frames"

// frameVector is one frame from messages_derived.json or
// sv2-tp_common_and_tdp_messages.json.
type frameVector struct {
	Message       string                     `json:"message"`
	ExtensionType uint16                     `json:"extension_type"`
	MsgType       json.RawMessage            `json:"msg_type"` // "0x1b" or 27
	ChannelMsg    *bool                      `json:"channel_msg"`
	PayloadLen    int                        `json:"payload_len"`
	PayloadHex    string                     `json:"payload_hex"`
	FrameHex      string                     `json:"frame_hex"`
	Decoded       map[string]json.RawMessage `json:"decoded"`
}

func (v frameVector) msgType(t testing.TB) MsgType {
	t.Helper()
	var s string
	if err := json.Unmarshal(v.MsgType, &s); err == nil {
		n, err := strconv.ParseUint(s, 0, 8)
		if err != nil {
			t.Fatalf("%s: msg_type %q: %v", v.Message, s, err)
		}
		return MsgType(n)
	}
	var n uint8
	if err := json.Unmarshal(v.MsgType, &n); err != nil {
		t.Fatalf("%s: msg_type: %v", v.Message, err)
	}
	return MsgType(n)
}

func (v frameVector) frame(t testing.TB) []byte   { return mustHex(t, v.FrameHex) }
func (v frameVector) payload(t testing.TB) []byte { return mustHex(t, v.PayloadHex) }

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// allFrameVectors returns every frame vector with its header-level
// extension type, from both frame files.
func allFrameVectors(t testing.TB) []frameVector {
	t.Helper()
	var derived struct {
		Messages []frameVector `json:"messages"`
	}
	loadJSON(t, filepath.Join(framesDir, "messages_derived.json"), &derived)
	var tp struct {
		Vectors []frameVector `json:"vectors"`
	}
	loadJSON(t, filepath.Join(framesDir, "sv2-tp_common_and_tdp_messages.json"), &tp)
	if len(derived.Messages) < 34 || len(tp.Vectors) < 6 {
		t.Fatalf("vector files truncated: %d derived, %d sv2-tp", len(derived.Messages), len(tp.Vectors))
	}
	return append(derived.Messages, tp.Vectors...)
}

// fields reads typed values out of a vector's "decoded" object.
type fields struct {
	t testing.TB
	v frameVector
}

func (f fields) raw(k string) json.RawMessage {
	f.t.Helper()
	r, ok := f.v.Decoded[k]
	if !ok {
		f.t.Fatalf("%s: decoded field %q missing", f.v.Message, k)
	}
	return r
}

func (f fields) unmarshal(k string, out any) {
	f.t.Helper()
	d := json.NewDecoder(bytes.NewReader(f.raw(k)))
	d.UseNumber()
	if err := d.Decode(out); err != nil {
		f.t.Fatalf("%s: field %q: %v", f.v.Message, k, err)
	}
}

func (f fields) uint(k string, bits int) uint64 {
	f.t.Helper()
	var n json.Number
	f.unmarshal(k, &n)
	v, err := strconv.ParseUint(n.String(), 10, bits)
	if err != nil {
		f.t.Fatalf("%s: field %q: %v", f.v.Message, k, err)
	}
	return v
}

func (f fields) u8(k string) uint8   { return uint8(f.uint(k, 8)) }
func (f fields) u16(k string) uint16 { return uint16(f.uint(k, 16)) }
func (f fields) u32(k string) uint32 { return uint32(f.uint(k, 32)) }
func (f fields) u64(k string) uint64 { return f.uint(k, 64) }

func (f fields) f32(k string) float32 {
	f.t.Helper()
	var n json.Number
	f.unmarshal(k, &n)
	v, err := strconv.ParseFloat(n.String(), 32)
	if err != nil {
		f.t.Fatalf("%s: field %q: %v", f.v.Message, k, err)
	}
	return float32(v)
}

func (f fields) boolean(k string) bool {
	var b bool
	f.unmarshal(k, &b)
	return b
}

func (f fields) str(k string) string {
	var s string
	f.unmarshal(k, &s)
	return s
}

// bytes returns a hex field; empty decodes as nil, as Decode does.
func (f fields) bytes(k string) []byte {
	b := mustHex(f.t, f.str(k))
	if len(b) == 0 {
		return nil
	}
	return b
}

func (f fields) u256(k string) U256 {
	f.t.Helper()
	b := mustHex(f.t, f.str(k))
	if len(b) != 32 {
		f.t.Fatalf("%s: field %q is %d bytes", f.v.Message, k, len(b))
	}
	return U256(b)
}

func (f fields) optU32(k string) Option[uint32] {
	if string(f.raw(k)) == "null" {
		return Option[uint32]{}
	}
	return Some(f.u32(k))
}

func (f fields) path(k string) []U256 {
	var hs []string
	f.unmarshal(k, &hs)
	var out []U256
	for _, h := range hs {
		b := mustHex(f.t, h)
		if len(b) != 32 {
			f.t.Fatalf("%s: %q node is %d bytes", f.v.Message, k, len(b))
		}
		out = append(out, U256(b))
	}
	return out
}

func (f fields) u32s(k string) []uint32 {
	var ns []uint32
	f.unmarshal(k, &ns)
	if len(ns) == 0 {
		return nil
	}
	return ns
}

func (f fields) u16s(k string) []uint16 {
	var ns []uint16
	f.unmarshal(k, &ns)
	if len(ns) == 0 {
		return nil
	}
	return ns
}

// expected builds, from the vector's decoded fields alone, the message the
// frame must decode to. Encoding it must give the vector's bytes, which
// checks the encoder independently of the decoder.
func expected(t testing.TB, v frameVector) Message {
	t.Helper()
	f := fields{t, v}
	typ := v.msgType(t)
	if v.ExtensionType == ExtensionNegotiation {
		switch typ {
		case MsgTypeRequestExtensions:
			return &RequestExtensions{RequestID: f.u16("request_id"), RequestedExtensions: f.u16s("requested_extensions")}
		case MsgTypeRequestExtensionsSuccess:
			return &RequestExtensionsSuccess{RequestID: f.u16("request_id"), SupportedExtensions: f.u16s("supported_extensions")}
		case MsgTypeRequestExtensionsError:
			return &RequestExtensionsError{RequestID: f.u16("request_id"),
				UnsupportedExtensions: f.u16s("unsupported_extensions"), RequiredExtensions: f.u16s("required_extensions")}
		}
		t.Fatalf("%s: no expectation for extension 1 type %#x", v.Message, typ)
	}
	switch typ {
	case MsgTypeSetupConnection:
		return &SetupConnection{Protocol: f.u8("protocol"), MinVersion: f.u16("min_version"), MaxVersion: f.u16("max_version"),
			Flags: f.u32("flags"), EndpointHost: f.str("endpoint_host"), EndpointPort: f.u16("endpoint_port"),
			Vendor: f.str("vendor"), HardwareVersion: f.str("hardware_version"), Firmware: f.str("firmware"), DeviceID: f.str("device_id")}
	case MsgTypeSetupConnectionSuccess:
		return &SetupConnectionSuccess{UsedVersion: f.u16("used_version"), Flags: f.u32("flags")}
	case MsgTypeSetupConnectionError:
		return &SetupConnectionError{Flags: f.u32("flags"), ErrorCode: f.str("error_code")}
	case MsgTypeChannelEndpointChanged:
		return &ChannelEndpointChanged{ChannelID: f.u32("channel_id")}
	case MsgTypeReconnect:
		return &Reconnect{NewHost: f.str("new_host"), NewPort: f.u16("new_port")}
	case MsgTypeOpenStandardMiningChannel:
		return &OpenStandardMiningChannel{RequestID: f.u32("request_id"), UserIdentity: f.str("user_identity"),
			NominalHashRate: f.f32("nominal_hash_rate"), MaxTarget: f.u256("max_target")}
	case MsgTypeOpenStandardMiningChannelSuccess:
		return &OpenStandardMiningChannelSuccess{RequestID: f.u32("request_id"), ChannelID: f.u32("channel_id"),
			Target: f.u256("target_le"), ExtranoncePrefix: f.bytes("extranonce_prefix"), GroupChannelID: f.u32("group_channel_id")}
	case MsgTypeOpenMiningChannelError:
		return &OpenMiningChannelError{RequestID: f.u32("request_id"), ErrorCode: f.str("error_code")}
	case MsgTypeOpenExtendedMiningChannel:
		return &OpenExtendedMiningChannel{RequestID: f.u32("request_id"), UserIdentity: f.str("user_identity"),
			NominalHashRate: f.f32("nominal_hash_rate"), MaxTarget: f.u256("max_target"), MinExtranonceSize: f.u16("min_extranonce_size")}
	case MsgTypeOpenExtendedMiningChannelSuccess:
		return &OpenExtendedMiningChannelSuccess{RequestID: f.u32("request_id"), ChannelID: f.u32("channel_id"),
			Target: f.u256("target_le"), ExtranonceSize: f.u16("extranonce_size"), ExtranoncePrefix: f.bytes("extranonce_prefix"),
			GroupChannelID: f.u32("group_channel_id")}
	case MsgTypeNewMiningJob:
		return &NewMiningJob{ChannelID: f.u32("channel_id"), JobID: f.u32("job_id"), MinNTime: f.optU32("min_ntime"),
			Version: f.u32("version"), MerkleRoot: f.u256("merkle_root")}
	case MsgTypeUpdateChannel:
		return &UpdateChannel{ChannelID: f.u32("channel_id"), NominalHashRate: f.f32("nominal_hash_rate"), MaximumTarget: f.u256("maximum_target")}
	case MsgTypeUpdateChannelError:
		return &UpdateChannelError{ChannelID: f.u32("channel_id"), ErrorCode: f.str("error_code")}
	case MsgTypeCloseChannel:
		return &CloseChannel{ChannelID: f.u32("channel_id"), ReasonCode: f.str("reason_code")}
	case MsgTypeSetExtranoncePrefix:
		return &SetExtranoncePrefix{ChannelID: f.u32("channel_id"), ExtranoncePrefix: f.bytes("extranonce_prefix")}
	case MsgTypeSubmitSharesStandard:
		return &SubmitSharesStandard{ChannelID: f.u32("channel_id"), SequenceNumber: f.u32("sequence_number"), JobID: f.u32("job_id"),
			Nonce: f.u32("nonce"), NTime: f.u32("ntime"), Version: f.u32("version")}
	case MsgTypeSubmitSharesExtended:
		m := &SubmitSharesExtended{ChannelID: f.u32("channel_id"), SequenceNumber: f.u32("sequence_number"), JobID: f.u32("job_id"),
			Nonce: f.u32("nonce"), NTime: f.u32("ntime"), Version: f.u32("version"), Extranonce: f.bytes("extranonce")}
		if _, ok := v.Decoded["tlv"]; ok {
			var tlvs []struct {
				ExtensionType uint16 `json:"extension_type"`
				FieldType     uint8  `json:"field_type"`
				Length        int    `json:"length"`
				Value         string `json:"value"`
			}
			f.unmarshal("tlv", &tlvs)
			for _, x := range tlvs {
				if len(x.Value) != x.Length {
					t.Fatalf("%s: TLV length %d, value %q", v.Message, x.Length, x.Value)
				}
				m.TLVs = append(m.TLVs, TLV{ExtensionType: x.ExtensionType, FieldType: x.FieldType, Value: []byte(x.Value)})
			}
		}
		return m
	case MsgTypeSubmitSharesSuccess:
		return &SubmitSharesSuccess{ChannelID: f.u32("channel_id"), LastSequenceNumber: f.u32("last_sequence_number"),
			NewSubmitsAcceptedCount: f.u32("new_submits_accepted_count"), NewSharesSum: f.u64("new_shares_sum")}
	case MsgTypeSubmitSharesError:
		return &SubmitSharesError{ChannelID: f.u32("channel_id"), SequenceNumber: f.u32("sequence_number"), ErrorCode: f.str("error_code")}
	case MsgTypeNewExtendedMiningJob:
		return &NewExtendedMiningJob{ChannelID: f.u32("channel_id"), JobID: f.u32("job_id"), MinNTime: f.optU32("min_ntime"),
			Version: f.u32("version"), VersionRollingAllowed: f.boolean("version_rolling_allowed"), MerklePath: f.path("merkle_path"),
			CoinbaseTxPrefix: f.bytes("coinbase_tx_prefix"), CoinbaseTxSuffix: f.bytes("coinbase_tx_suffix")}
	case MsgTypeSetNewPrevHash:
		return &SetNewPrevHash{ChannelID: f.u32("channel_id"), JobID: f.u32("job_id"), PrevHash: f.u256("prev_hash"),
			MinNTime: f.u32("min_ntime"), NBits: f.u32("nbits")}
	case MsgTypeSetTarget:
		return &SetTarget{ChannelID: f.u32("channel_id"), MaximumTarget: f.u256("maximum_target_le")}
	case MsgTypeSetCustomMiningJob:
		return &SetCustomMiningJob{ChannelID: f.u32("channel_id"), RequestID: f.u32("request_id"), MiningJobToken: f.bytes("mining_job_token"),
			Version: f.u32("version"), PrevHash: f.u256("prev_hash"), MinNTime: f.u32("min_ntime"), NBits: f.u32("nbits"),
			CoinbaseTxVersion: f.u32("coinbase_tx_version"), CoinbasePrefix: f.bytes("coinbase_prefix"),
			CoinbaseTxInputNSequence: f.u32("coinbase_tx_input_nSequence"), CoinbaseTxOutputs: f.bytes("coinbase_tx_outputs"),
			CoinbaseTxLocktime: f.u32("coinbase_tx_locktime"), MerklePath: f.path("merkle_path")}
	case MsgTypeSetCustomMiningJobSuccess:
		return &SetCustomMiningJobSuccess{ChannelID: f.u32("channel_id"), RequestID: f.u32("request_id"), JobID: f.u32("job_id")}
	case MsgTypeSetCustomMiningJobError:
		return &SetCustomMiningJobError{ChannelID: f.u32("channel_id"), RequestID: f.u32("request_id"), ErrorCode: f.str("error_code")}
	case MsgTypeSetGroupChannel:
		return &SetGroupChannel{GroupChannelID: f.u32("group_channel_id"), ChannelIDs: f.u32s("channel_ids")}
	case MsgTypeNewTemplate:
		return &NewTemplate{TemplateID: f.u64("template_id"), FutureTemplate: f.boolean("future_template"), Version: f.u32("version"),
			CoinbaseTxVersion: f.u32("coinbase_tx_version"), CoinbasePrefix: f.bytes("coinbase_prefix"),
			CoinbaseTxInputSequence: f.u32("coinbase_tx_input_sequence"), CoinbaseTxValueRemaining: f.u64("coinbase_tx_value_remaining"),
			CoinbaseTxOutputsCount: f.u32("coinbase_tx_outputs_count"), CoinbaseTxOutputs: f.bytes("coinbase_tx_outputs"),
			CoinbaseTxLocktime: f.u32("coinbase_tx_locktime"), MerklePath: f.path("merkle_path")}
	case MsgTypeTemplateSetNewPrevHash:
		return &TemplateSetNewPrevHash{TemplateID: f.u64("template_id"), PrevHash: f.u256("prev_hash"),
			HeaderTimestamp: f.u32("header_timestamp"), NBits: f.u32("n_bits"), Target: f.u256("target")}
	}
	t.Fatalf("%s: no expectation for type %#x", v.Message, typ)
	return nil
}

// TestFrameVectors decodes every vector frame to the message its decoded
// fields describe, and encodes that message back to the same bytes.
func TestFrameVectors(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, v := range allFrameVectors(t) {
		t.Run(v.Message, func(t *testing.T) {
			frame, payload := v.frame(t), v.payload(t)
			if len(payload) != v.PayloadLen || !bytes.Equal(frame[HeaderSize:], payload) {
				t.Fatalf("vector inconsistent: payload_len %d, payload %d bytes", v.PayloadLen, len(payload))
			}
			want := expected(t, v)

			h, err := ParseHeader(frame)
			if err != nil {
				t.Fatal(err)
			}
			if h.Extension() != v.ExtensionType || h.MsgType != v.msgType(t) || h.Length != uint32(v.PayloadLen) {
				t.Fatalf("header %+v, want ext %#x type %#x len %d", h, v.ExtensionType, v.msgType(t), v.PayloadLen)
			}
			if v.ChannelMsg != nil && (h.ChannelMsg() != *v.ChannelMsg || want.ChannelMsg() != *v.ChannelMsg) {
				t.Fatalf("channel_msg: header %v, message %v, vector %v", h.ChannelMsg(), want.ChannelMsg(), *v.ChannelMsg)
			}

			r := bytes.NewReader(frame)
			got, err := ReadFrame(r)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if r.Len() != 0 {
				t.Fatalf("ReadFrame left %d bytes", r.Len())
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n got %#v\nwant %#v", got, want)
			}

			enc, err := AppendFrame(nil, want)
			if err != nil {
				t.Fatalf("AppendFrame: %v", err)
			}
			if !bytes.Equal(enc, frame) {
				t.Fatalf("encoded\n got %x\nwant %x", enc, frame)
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, got); err != nil || !bytes.Equal(buf.Bytes(), frame) {
				t.Fatalf("WriteFrame = %x, %v", buf.Bytes(), err)
			}
			if len(frame)-HeaderSize > int(want.MaxPayloadLength()) {
				t.Fatalf("vector exceeds MaxPayloadLength %d", want.MaxPayloadLength())
			}
			if v.ExtensionType == ExtensionCore {
				seen[want.MsgType()] = true
			}
		})
	}
	// Every Common and Mining message must have been covered.
	for typ := MsgType(0); typ < 0x70; typ++ {
		if coreRegistry[typ].new != nil && !seen[typ] {
			t.Errorf("no vector for %s", MessageName(0, typ))
		}
	}
}

func TestFramingHeaders(t *testing.T) {
	var file struct {
		Vectors []struct {
			Bytes         string  `json:"bytes"`
			ExtensionType uint16  `json:"extension_type"`
			MsgType       uint8   `json:"msg_type"`
			MsgLength     uint32  `json:"msg_length"`
			ChannelMsg    bool    `json:"channel_msg"`
			ExtNoBit      *uint16 `json:"extension_id_without_channel_bit"`
		} `json:"vectors"`
	}
	loadJSON(t, filepath.Join(framesDir, "framing_headers.json"), &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		b := mustHex(t, v.Bytes)
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		want := Header{ExtensionType: v.ExtensionType, MsgType: MsgType(v.MsgType), Length: v.MsgLength}
		if h != want || h.ChannelMsg() != v.ChannelMsg {
			t.Errorf("%s: got %+v channel %v, want %+v channel %v", v.Bytes, h, h.ChannelMsg(), want, v.ChannelMsg)
		}
		if v.ExtNoBit != nil && h.Extension() != *v.ExtNoBit {
			t.Errorf("%s: extension %#x, want %#x", v.Bytes, h.Extension(), *v.ExtNoBit)
		}
		enc, err := AppendHeader(nil, h)
		if err != nil || !bytes.Equal(enc, b) {
			t.Errorf("AppendHeader(%+v) = %x, %v; want %s", h, enc, err, v.Bytes)
		}
	}
	if _, err := ParseHeader(make([]byte, HeaderSize-1)); err != ErrShortHeader {
		t.Errorf("ParseHeader(5 bytes) = %v", err)
	}
	if _, err := AppendHeader(nil, Header{Length: MaxFrameLength + 1}); err == nil {
		t.Error("AppendHeader accepted a length beyond U24")
	}
}

func TestTLVVectors(t *testing.T) {
	var file struct {
		SRI struct {
			Vectors []struct {
				ExtensionType uint16 `json:"extension_type"`
				FieldType     uint8  `json:"field_type"`
				Value         string `json:"value_ascii"`
				Bytes         string `json:"bytes"`
			} `json:"vectors"`
		} `json:"sri_encoding"`
		Spec struct {
			Bytes string `json:"bytes"`
		} `json:"spec_prose_example"`
	}
	loadJSON(t, filepath.Join(framesDir, "tlv.json"), &file)
	if len(file.SRI.Vectors) == 0 || file.Spec.Bytes == "" {
		t.Fatal("no vectors")
	}
	for _, v := range file.SRI.Vectors {
		want := TLV{ExtensionType: v.ExtensionType, FieldType: v.FieldType, Value: []byte(v.Value)}
		b := mustHex(t, v.Bytes)
		enc, err := AppendTLV(nil, want)
		if err != nil || !bytes.Equal(enc, b) {
			t.Errorf("AppendTLV(%q) = %x, %v; want %s", v.Value, enc, err, v.Bytes)
		}
		got, err := ParseTLVs(b)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("ParseTLVs(%s) = %+v, %v", v.Bytes, got, err)
		}
	}
	// The spec's big-endian example must not parse as SRI's little-endian
	// layout: read LE, it announces a 2560-byte value.
	if got, err := ParseTLVs(mustHex(t, file.Spec.Bytes)); err == nil {
		t.Errorf("big-endian spec example parsed as %+v", got)
	}
	// A user_identity over 32 bytes is rejected both ways.
	long := TLV{ExtensionType: ExtensionWorkerHashrateTracking, FieldType: TLVFieldUserIdentity, Value: bytes.Repeat([]byte{'w'}, MaxUserIdentityTLV+1)}
	if _, err := AppendTLV(nil, long); err == nil {
		t.Error("AppendTLV accepted a 33-byte user_identity")
	}
	raw := append([]byte{0x02, 0x00, 0x01, MaxUserIdentityTLV + 1, 0x00}, long.Value...)
	if _, err := ParseTLVs(raw); err == nil {
		t.Error("ParseTLVs accepted a 33-byte user_identity")
	}
	// Unknown TLVs of any size up to the area limit are kept.
	unk := TLV{ExtensionType: 0x4001, FieldType: 9, Value: bytes.Repeat([]byte{1}, 100)}
	enc, _ := AppendTLV(nil, unk)
	if got, err := ParseTLVs(enc); err != nil || !reflect.DeepEqual(got, []TLV{unk}) {
		t.Errorf("unknown TLV: %+v, %v", got, err)
	}
}

func TestReadFrameStream(t *testing.T) {
	// All vectors back to back, read through a one-byte-at-a-time reader:
	// ReadFrame must cope with partial reads and stop cleanly at io.EOF.
	vs := allFrameVectors(t)
	var stream []byte
	for _, v := range vs {
		stream = append(stream, v.frame(t)...)
	}
	r := &oneByteReader{r: bytes.NewReader(stream)}
	for _, v := range vs {
		m, err := ReadFrame(r)
		if err != nil {
			t.Fatalf("%s: %v", v.Message, err)
		}
		if enc, _ := AppendFrame(nil, m); !bytes.Equal(enc, v.frame(t)) {
			t.Fatalf("%s: re-encoded %x", v.Message, enc)
		}
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
