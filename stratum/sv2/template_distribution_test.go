package sv2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// The sv2-tp vectors cover NewTemplate and SetNewPrevHash; these payloads
// for the remaining Template Distribution messages are laid out field by
// field from spec §7 with encoding/binary, independently of the codec.
func TestTemplateDistributionLayouts(t *testing.T) {
	le := binary.LittleEndian
	tx1 := bytes.Repeat([]byte{0x11}, 70)
	tx2 := []byte{0x22}

	var rtds []byte
	rtds = le.AppendUint64(rtds, 7)
	rtds = append(rtds, 0x02, 0x00, 0xee, 0xff) // excess_data B0_64K
	rtds = append(rtds, 0x02, 0x00)             // 2 transactions
	rtds = append(rtds, 70, 0, 0)
	rtds = append(rtds, tx1...)
	rtds = append(rtds, 1, 0, 0)
	rtds = append(rtds, tx2...)

	var sol []byte
	sol = le.AppendUint64(sol, 9)
	sol = le.AppendUint32(sol, 0x20000000)
	sol = le.AppendUint32(sol, 1745596971)
	sol = le.AppendUint32(sol, 102103)
	sol = append(sol, 0x03, 0x00, 0xaa, 0xbb, 0xcc)

	cases := []struct {
		payload []byte
		want    Message
	}{
		{[]byte{0xe8, 0x03, 0, 0, 0x90, 0x01}, &CoinbaseOutputConstraints{MaxAdditionalSize: 1000, MaxAdditionalSigops: 400}},
		{le.AppendUint64(nil, 3), &RequestTransactionData{TemplateID: 3}},
		{rtds, &RequestTransactionDataSuccess{TemplateID: 7, ExcessData: []byte{0xee, 0xff}, TransactionList: [][]byte{tx1, tx2}}},
		{append(le.AppendUint64(nil, 4), 5, 's', 't', 'a', 'l', 'e'), &RequestTransactionDataError{TemplateID: 4, ErrorCode: "stale"}},
		{sol, &SubmitSolution{TemplateID: 9, Version: 0x20000000, HeaderTimestamp: 1745596971, HeaderNonce: 102103, CoinbaseTx: []byte{0xaa, 0xbb, 0xcc}}},
	}
	for _, c := range cases {
		h := HeaderFor(c.want, len(c.payload))
		got, err := DecodeMessage(h, c.payload)
		if err != nil {
			t.Fatalf("%T: %v", c.want, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("decoded %#v, want %#v", got, c.want)
		}
		enc, err := c.want.Encode(nil)
		if err != nil || !bytes.Equal(enc, c.payload) {
			t.Fatalf("%T encoded %x, %v; want %x", c.want, enc, err, c.payload)
		}
		if c.want.ChannelMsg() || c.want.ExtensionType() != ExtensionCore {
			t.Fatalf("%T: Template Distribution messages have ext 0 and no channel bit", c.want)
		}
	}

	// Template Providers from before spec PR #86 send the 4-byte
	// CoinbaseOutputDataSize; it is short for CoinbaseOutputConstraints.
	var m CoinbaseOutputConstraints
	if err := m.Decode([]byte{0xe8, 0x03, 0, 0}); !errors.Is(err, ErrShortPayload) {
		t.Fatalf("4-byte payload: %v", err)
	}
}
