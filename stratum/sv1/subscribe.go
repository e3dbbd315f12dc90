package sv1

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// MaxExtranonce2Size bounds extranonce2_size. cgminer accepts up to 16 and
// ESP-Miner clamps to 32 (sv1.md section 3.2); nothing larger is sane.
const MaxExtranonce2Size = 32

// MaxExtranonce1Size bounds a decoded extranonce1 (NiceHash uses up to 9).
const MaxExtranonce1Size = 32

// Subscribe is the params of mining.subscribe (sv1.md section 3.2):
//
//	[]                                         cgminer retry
//	["bitaxe/BM1370/v2.7.0"]                   user agent only
//	["cgminer/4.x", "<session id>"]            resume
//	["bmminer/2.0.0","01000cc6",1928847164]    extra element, ignored
//	["Braiins OS 2019-06-05", null, "stratum.slushpool.com:3333", null]
//
// Every element is optional; null reads as "". Encoding writes only as many
// elements as needed.
type Subscribe struct {
	UserAgent string
	// ResumeID is the session id (often the old extranonce1) the miner asks
	// to resume; pools may ignore it. A number is kept as its literal text.
	ResumeID string
	// URL and Port are Braiins OS's third and fourth elements: the host:port
	// the miner connected to and an optional port. A non-string third
	// element (bmminer's extra number) is ignored.
	URL  string
	Port string
}

var _ Params = (*Subscribe)(nil)

// Method implements Params.
func (Subscribe) Method() string { return MethodSubscribe }

// UnmarshalJSON implements Params.
func (s *Subscribe) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodSubscribe, raw, arr[:0])
	if err != nil {
		return err
	}
	*s = Subscribe{}
	if len(p) > 0 {
		if s.UserAgent, err = decodeOptString(MethodSubscribe, 0, p[0]); err != nil {
			return err
		}
	}
	if len(p) > 1 {
		if kindOf(p[1]) != 'n' {
			if s.ResumeID, err = decodeJobID(MethodSubscribe, 1, p[1]); err != nil {
				return err
			}
		}
	}
	if len(p) > 2 && kindOf(p[2]) == '"' {
		if s.URL, err = decodeString(MethodSubscribe, 2, p[2]); err != nil {
			return err
		}
		if len(p) > 3 {
			switch kindOf(p[3]) {
			case '"':
				s.Port, err = decodeString(MethodSubscribe, 3, p[3])
			case '0':
				var v int64
				v, err = decodeInt(MethodSubscribe, 3, p[3], 0, 65535)
				s.Port = strconv.FormatInt(v, 10)
			case 'n':
			default:
				err = paramErr(MethodSubscribe, 3, "want a port")
			}
		}
	}
	return err
}

// MarshalJSON implements Params.
func (s Subscribe) MarshalJSON() ([]byte, error) {
	opt := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	switch {
	case s.URL != "" || s.Port != "":
		return json.Marshal([]any{s.UserAgent, opt(s.ResumeID), s.URL, opt(s.Port)})
	case s.ResumeID != "":
		return json.Marshal([]string{s.UserAgent, s.ResumeID})
	case s.UserAgent != "":
		return json.Marshal([]string{s.UserAgent})
	}
	return []byte("[]"), nil
}

// Subscription is one [method, id] pair of a subscribe result.
type Subscription struct {
	Method string
	ID     string
}

// SubscribeResult is the result of mining.subscribe (sv1.md section 3.2):
// [subscriptions, extranonce1_hex, extranonce2_size], for example
// [[["mining.set_difficulty","08000002"],["mining.notify","08000002"]],"08000002",4].
//
// Decoding accepts any list of pairs (including the empty list and old
// p2pool's flat ["mining.notify","id"]) and extra trailing elements;
// encoding always writes the nested list of pairs, which stock Antminer
// firmware requires. Use NewSubscribeResult for the usual two pairs.
type SubscribeResult struct {
	Subscriptions   []Subscription
	Extranonce1     []byte
	Extranonce2Size int
}

// NewSubscribeResult returns a result announcing subscriptionID for both
// mining.set_difficulty and mining.notify.
func NewSubscribeResult(subscriptionID string, extranonce1 []byte, extranonce2Size int) *SubscribeResult {
	return &SubscribeResult{
		Subscriptions: []Subscription{
			{Method: MethodSetDifficulty, ID: subscriptionID},
			{Method: MethodNotify, ID: subscriptionID},
		},
		Extranonce1:     extranonce1,
		Extranonce2Size: extranonce2Size,
	}
}

const subscribeResult = "mining.subscribe result"

// UnmarshalJSON decodes the result value (Message.Result).
func (r *SubscribeResult) UnmarshalJSON(raw []byte) error {
	if isNull(raw) || len(raw) == 0 {
		return paramErr(subscribeResult, -1, "missing result")
	}
	var arr [4]json.RawMessage
	p, err := splitArray(subscribeResult, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 3 {
		return paramErr(subscribeResult, -1, "want [subscriptions, extranonce1, extranonce2_size]")
	}
	*r = SubscribeResult{}
	if r.Subscriptions, err = decodeSubscriptions(p[0]); err != nil {
		return err
	}
	if r.Extranonce1, err = decodeHex(subscribeResult, 1, p[1], nil, MaxExtranonce1Size); err != nil {
		return err
	}
	n, err := decodeInt(subscribeResult, 2, p[2], 0, MaxExtranonce2Size)
	if err != nil {
		return err
	}
	r.Extranonce2Size = int(n)
	return nil
}

func decodeSubscriptions(raw []byte) ([]Subscription, error) {
	var arr [4]json.RawMessage
	pairs, err := splitArray(subscribeResult, raw, arr[:0])
	if err != nil || kindOf(raw) != '[' {
		return nil, paramErr(subscribeResult, 0, "subscriptions must be an array")
	}
	if len(pairs) > 0 && kindOf(pairs[0]) == '"' {
		// Old p2pool flat form: ["mining.notify","id"].
		pairs = []json.RawMessage{raw}
	}
	subs := make([]Subscription, 0, len(pairs))
	for _, pr := range pairs {
		var parr [4]json.RawMessage
		e, err := splitArray(subscribeResult, pr, parr[:0])
		if err != nil || kindOf(pr) != '[' || len(e) < 2 {
			return nil, paramErr(subscribeResult, 0, "subscription must be [method, id]")
		}
		var sub Subscription
		if sub.Method, err = decodeString(subscribeResult, 0, e[0]); err != nil {
			return nil, err
		}
		switch kindOf(e[1]) {
		case '"':
			sub.ID, err = decodeString(subscribeResult, 0, e[1])
		case '0':
			sub.ID = string(e[1])
		default:
			err = paramErr(subscribeResult, 0, "subscription id must be a string")
		}
		if err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// MarshalJSON writes the nested form.
func (r SubscribeResult) MarshalJSON() ([]byte, error) {
	pairs := make([][2]string, len(r.Subscriptions))
	for i, s := range r.Subscriptions {
		pairs[i] = [2]string{s.Method, s.ID}
	}
	return json.Marshal([3]any{pairs, hex.EncodeToString(r.Extranonce1), r.Extranonce2Size})
}
