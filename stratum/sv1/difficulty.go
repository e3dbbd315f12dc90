package sv1

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// SetDifficulty is the params of mining.set_difficulty (sv1.md section 3.6):
// [difficulty]. The difficulty keeps its exact decimal text ("16383.75",
// "9427.960695338843", "4.0") so targets can be computed exactly; it must be
// a JSON number > 0. Extra elements are ignored.
type SetDifficulty struct {
	Difficulty json.Number
}

var _ Params = (*SetDifficulty)(nil)

// Method implements Params.
func (SetDifficulty) Method() string { return MethodSetDifficulty }

// UnmarshalJSON implements Params.
func (s *SetDifficulty) UnmarshalJSON(raw []byte) error {
	d, err := decodeDifficulty(MethodSetDifficulty, raw)
	s.Difficulty = d
	return err
}

// MarshalJSON implements Params.
func (s SetDifficulty) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]json.Number{s.Difficulty})
}

// DifficultyNumber is d as set_difficulty carries it: the shortest plain decimal that parses
// back to exactly d ("0.015625", "16384", never an exponent, which integer-only parsers
// misread), so the difficulty a miner is told is the one its shares are judged by.
func DifficultyNumber(d float64) json.Number {
	return json.Number(strconv.FormatFloat(d, 'f', -1, 64))
}

// SuggestDifficulty is the params of mining.suggest_difficulty (sv1.md
// section 3.5): [difficulty], a starting-difficulty hint, kept as exact
// decimal text and > 0.
type SuggestDifficulty struct {
	Difficulty json.Number
}

var _ Params = (*SuggestDifficulty)(nil)

// Method implements Params.
func (SuggestDifficulty) Method() string { return MethodSuggestDifficulty }

// UnmarshalJSON implements Params.
func (s *SuggestDifficulty) UnmarshalJSON(raw []byte) error {
	d, err := decodeDifficulty(MethodSuggestDifficulty, raw)
	s.Difficulty = d
	return err
}

// MarshalJSON implements Params.
func (s SuggestDifficulty) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]json.Number{s.Difficulty})
}

func decodeDifficulty(method string, raw []byte) (json.Number, error) {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(method, raw, arr[:0])
	if err != nil {
		return "", err
	}
	if len(p) < 1 {
		return "", paramErr(method, -1, "missing difficulty")
	}
	return decodeNumber(method, 0, p[0], true)
}

// SuggestTarget is the params of mining.suggest_target (sv1.md section 3.5):
// ["<64 hex digits>"], the target as a big-endian 256-bit number.
type SuggestTarget struct {
	Target [32]byte
}

var _ Params = (*SuggestTarget)(nil)

// Method implements Params.
func (SuggestTarget) Method() string { return MethodSuggestTarget }

// UnmarshalJSON implements Params.
func (s *SuggestTarget) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodSuggestTarget, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodSuggestTarget, -1, "missing target")
	}
	return decodeHexFixed(MethodSuggestTarget, 0, p[0], s.Target[:])
}

// MarshalJSON implements Params.
func (s SuggestTarget) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]string{hex.EncodeToString(s.Target[:])})
}
