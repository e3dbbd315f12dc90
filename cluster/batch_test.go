package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashgate/hashgate/policy"
)

func goodBatch(k int) *Batch {
	b := &Batch{Epoch: 9, Leader: "b", Owner: "a", TimeoutMS: 5000}
	for i := range k {
		b.Decisions = append(b.Decisions, Decided{MinerID: fmt.Sprintf("m%d", i), Group: "g", Action: Action(policy.ActionPause),
			FromKW: 3.5, Reason: Reason(policy.ReasonImportLimit)})
	}
	return b
}

// A batch and both kinds of its reply survive encode -> decode unchanged.
func TestBatchMessagesRoundTrip(t *testing.T) {
	for _, m := range []Message{goodBatch(MaxOrdersPerBatch), &BatchReply{Epoch: 9, Results: []Result{{MinerID: "m0"}, {MinerID: "m1", Err: "firmware: timeout"}}},
		&BatchReply{Epoch: 9, Err: ErrStaleEpoch.Error()}} {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		var got Message
		switch m.(type) {
		case *Batch:
			got, err = DecodeBatch(b)
		default:
			got, err = DecodeBatchReply(b)
		}
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		b2, _ := Encode(got)
		if !bytes.Equal(b, b2) {
			t.Fatalf("%T changed:\n%s\n%s", m, b, b2)
		}
	}
	// A full batch of ordinary ids stays well under NATS's default max_payload.
	if b, _ := Encode(goodBatch(MaxOrdersPerBatch)); len(b) > MaxMessage/4 {
		t.Fatalf("a full batch is %d bytes", len(b))
	}
}

// What a broken or hostile leader or owner may send is refused whole with ErrBadMessage.
func TestBatchMessagesRefuseHostileInput(t *testing.T) {
	order := `{"miner":"m","action":"pause","target_kw":0,"from_kw":1}`
	batch := func(head, orders string) string { return `{` + head + `,"decisions":[` + orders + `]}` }
	head := `"epoch":3,"leader":"b","owner":"a","timeout_ms":100`
	var many []string
	for i := range MaxOrdersPerBatch + 1 {
		many = append(many, fmt.Sprintf(`{"miner":"m%d","action":"pause","target_kw":0,"from_kw":1}`, i))
	}
	cases := []struct {
		name string
		dec  func([]byte) error
		in   string
	}{
		{"batch not json", decBatch, `{"epoch":`},
		{"batch garbage", decBatch, "\x00\xff garbage"},
		{"batch trailing data", decBatch, batch(head, order) + `{}`},
		{"batch epoch 0", decBatch, batch(`"epoch":0,"leader":"b","owner":"a","timeout_ms":100`, order)},
		{"batch leader with a dot", decBatch, batch(`"epoch":3,"leader":"b.x","owner":"a","timeout_ms":100`, order)},
		{"batch without owner", decBatch, batch(`"epoch":3,"leader":"b","timeout_ms":100`, order)},
		{"batch owner wildcard", decBatch, batch(`"epoch":3,"leader":"b","owner":"*","timeout_ms":100`, order)},
		{"batch timeout beyond 10 min", decBatch, batch(`"epoch":3,"leader":"b","owner":"a","timeout_ms":99999999`, order)},
		{"batch timeout 0", decBatch, batch(`"epoch":3,"leader":"b","owner":"a","timeout_ms":0`, order)},
		{"batch without orders", decBatch, batch(head, ``)},
		{"batch beyond MaxOrdersPerBatch", decBatch, batch(head, strings.Join(many, ","))},
		{"batch orders one miner twice", decBatch, batch(head, order+","+order)},
		{"batch order without action", decBatch, batch(head, `{"miner":"m","action":"unknown","target_kw":0,"from_kw":1}`)},
		{"batch order NaN-like kW", decBatch, batch(head, `{"miner":"m","action":"throttle","target_kw":1e999,"from_kw":1}`)},
		{"batch order empty miner", decBatch, batch(head, `{"miner":"","action":"pause","target_kw":0,"from_kw":1}`)},
		{"batch order unknown reason", decBatch, batch(head, `{"miner":"m","action":"pause","target_kw":0,"from_kw":1,"reason":"whim"}`)},
		{"batch oversize", decBatch, `{"epoch":3,"pad":"` + strings.Repeat("x", MaxMessage) + `"}`},
		{"batch reply refused with results", decBatchReply, `{"epoch":3,"err":"no","results":[{"miner":"m"}]}`},
		{"batch reply result without miner", decBatchReply, `{"epoch":3,"results":[{"miner":""}]}`},
		{"batch reply result error too long", decBatchReply, `{"epoch":3,"results":[{"miner":"m","err":"` + strings.Repeat("e", maxResultErr+1) + `"}]}`},
		{"batch reply error too long", decBatchReply, `{"epoch":3,"err":"` + strings.Repeat("e", 4097) + `"}`},
	}
	for _, c := range cases {
		if err := c.dec([]byte(c.in)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: got %v, want ErrBadMessage", c.name, err)
		}
	}
	// Nothing invalid is ever sent either.
	if _, err := Encode(&Batch{Epoch: 1, Leader: "b", Owner: "a", TimeoutMS: 1}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("encoded an empty batch: %v", err)
	}
}

// An error text cut to fit a result keeps whole runes, so the reply decodes within the limit.
func TestErrTextCutsWholeRunes(t *testing.T) {
	long := errors.New(strings.Repeat("é", maxResultErr)) // 2 bytes a rune
	s := errText(long, maxResultErr-1)
	if len(s) > maxResultErr-1 || !utf8.ValidString(s) {
		t.Fatalf("cut to %d bytes, valid %v", len(s), utf8.ValidString(s))
	}
	r := &BatchReply{Epoch: 1, Results: []Result{{MinerID: "m", Err: errText(long, maxResultErr)}}}
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBatchReply(b); err != nil {
		t.Fatal(err)
	}
	if errText(nil, 10) != "" || errText(errors.New(""), 10) == "" {
		t.Fatal("no error must be empty, an empty error not")
	}
}

func decBatch(b []byte) error      { _, err := DecodeBatch(b); return err }
func decBatchReply(b []byte) error { _, err := DecodeBatchReply(b); return err }
