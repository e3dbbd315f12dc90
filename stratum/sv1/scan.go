package sv1

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
)

// This file holds the positional params scanner shared by every typed
// decoder. Params are JSON arrays whose elements are decoded by position,
// so extra trailing elements can be tolerated and each element's JSON type
// checked (STYLE.md "V1 JSON"; sv1.md section 11).

// maxDepth bounds nesting while skipping a value so that a hostile line
// cannot recurse deeply.
const maxDepth = 32

var (
	errSyntax  = errors.New("syntax error")
	errTooDeep = errors.New("nested too deep")
)

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '[' || c == '{':
		if depth >= maxDepth {
			return 0, errTooDeep
		}
		return skipComposite(b, i, depth+1)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return 0, errSyntax
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

func skipString(b []byte, i int) (int, error) {
	i++ // opening quote
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, errSyntax
				}
				for _, h := range b[i+2 : i+6] {
					if fromHex(h) < 0 {
						return 0, errSyntax
					}
				}
				i += 6
			default:
				return 0, errSyntax
			}
		case c < 0x20:
			return 0, errSyntax
		default:
			i++
		}
	}
	return 0, errSyntax
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, errSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, errSyntax
		}
		i = j
	}
	return i, nil
}

func skipComposite(b []byte, i, depth int) (int, error) {
	closer := byte(']')
	object := b[i] == '{'
	if object {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var err error
		if object {
			if i >= len(b) || b[i] != '"' {
				return 0, errSyntax
			}
			if i, err = skipString(b, i); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, errSyntax
			}
			i = skipSpace(b, i+1)
		}
		if i, err = skipValue(b, i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, errSyntax
		}
		if b[i] == closer {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errSyntax
		}
		i = skipSpace(b, i+1)
	}
}

// splitArray appends the elements of the JSON array raw to dst. Absent or
// null params count as an empty array: miners send "params":[] but a few
// omit the member for parameterless methods.
func splitArray(method string, raw []byte, dst []json.RawMessage) ([]json.RawMessage, error) {
	i := skipSpace(raw, 0)
	if i == len(raw) || isNull(raw) {
		return dst, nil
	}
	if raw[i] != '[' {
		return dst, paramErr(method, -1, "not an array")
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		i++
	} else {
		for {
			end, err := skipValue(raw, i, 1)
			if err != nil {
				return dst, paramErr(method, len(dst), "malformed JSON")
			}
			dst = append(dst, raw[i:end])
			i = skipSpace(raw, end)
			if i >= len(raw) {
				return dst, paramErr(method, -1, "unterminated array")
			}
			if raw[i] == ']' {
				i++
				break
			}
			if raw[i] != ',' {
				return dst, paramErr(method, -1, "malformed array")
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return dst, paramErr(method, -1, "trailing data after array")
	}
	return dst, nil
}

func isNull(raw []byte) bool {
	i := skipSpace(raw, 0)
	return len(raw)-i >= 4 && string(raw[i:i+4]) == "null" && skipSpace(raw, i+4) == len(raw)
}

func kindOf(raw []byte) byte {
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '"', '[', '{', 't', 'f', 'n':
		return c
	}
	return '0' // number
}

// stringBody returns the bytes between the quotes of a JSON string when they
// need no unescaping (printable ASCII, no backslash), which is every string
// real peers send. ok is false otherwise.
func stringBody(raw []byte) (body []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	body = raw[1 : len(raw)-1]
	for _, c := range body {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return nil, false
		}
	}
	return body, true
}

// decodeString decodes a JSON string element.
func decodeString(method string, idx int, raw []byte) (string, error) {
	if kindOf(raw) != '"' {
		return "", paramErr(method, idx, "want a string")
	}
	if body, ok := stringBody(raw); ok {
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", paramErr(method, idx, "malformed string")
	}
	return s, nil
}

// decodeOptString decodes a string element that may also be null.
func decodeOptString(method string, idx int, raw []byte) (string, error) {
	if kindOf(raw) == 'n' {
		return "", nil
	}
	return decodeString(method, idx, raw)
}

// hexBody returns the hex digits of a JSON string element without allocating
// in the common case.
func hexBody(method string, idx int, raw []byte) ([]byte, error) {
	if body, ok := stringBody(raw); ok {
		return body, nil
	}
	s, err := decodeString(method, idx, raw)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// decodeHex appends the bytes of a hex string element to dst[:0].
func decodeHex(method string, idx int, raw, dst []byte, maxLen int) ([]byte, error) {
	body, err := hexBody(method, idx, raw)
	if err != nil {
		return dst[:0], err
	}
	if len(body)%2 != 0 {
		return dst[:0], paramErr(method, idx, "odd-length hex")
	}
	if len(body)/2 > maxLen {
		return dst[:0], paramErr(method, idx, "hex too long")
	}
	n := len(body) / 2
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := hex.Decode(dst, body); err != nil {
		return dst[:0], paramErr(method, idx, "invalid hex")
	}
	return dst, nil
}

// decodeHexFixed decodes a hex string element of exactly len(out) bytes.
func decodeHexFixed(method string, idx int, raw []byte, out []byte) error {
	body, err := hexBody(method, idx, raw)
	if err != nil {
		return err
	}
	if len(body) != 2*len(out) {
		return paramErr(method, idx, "want "+strconv.Itoa(2*len(out))+" hex digits")
	}
	if _, err := hex.Decode(out, body); err != nil {
		return paramErr(method, idx, "invalid hex")
	}
	return nil
}

func fromHex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// decodeHex32 decodes a big-endian uint32 written as hex. exact8 demands the
// fixed 8-digit form pools use in mining.notify; otherwise 1..8 digits are
// accepted, and allowNumber also accepts a JSON integer (SRI's tolerance for
// miners that submit ntime/nonce as numbers, sv1.md section 1).
func decodeHex32(method string, idx int, raw []byte, exact8, allowNumber bool) (uint32, error) {
	if allowNumber && kindOf(raw) == '0' {
		v, err := strconv.ParseUint(string(raw), 10, 32)
		if err != nil {
			return 0, paramErr(method, idx, "number is not a uint32")
		}
		return uint32(v), nil
	}
	body, err := hexBody(method, idx, raw)
	if err != nil {
		return 0, err
	}
	if len(body) == 0 || len(body) > 8 || (exact8 && len(body) != 8) {
		return 0, paramErr(method, idx, "want 8 hex digits")
	}
	var v uint32
	for _, c := range body {
		d := fromHex(c)
		if d < 0 {
			return 0, paramErr(method, idx, "invalid hex")
		}
		v = v<<4 | uint32(d)
	}
	return v, nil
}

// decodeInt decodes a JSON integer within [lo, hi].
func decodeInt(method string, idx int, raw []byte, lo, hi int64) (int64, error) {
	if kindOf(raw) != '0' {
		return 0, paramErr(method, idx, "want an integer")
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, paramErr(method, idx, "want an integer")
	}
	if v < lo || v > hi {
		return 0, paramErr(method, idx, "integer out of range")
	}
	return v, nil
}

// decodeNumber keeps a JSON number's exact decimal text. positive demands a
// value > 0 (difficulties); otherwise >= 0.
func decodeNumber(method string, idx int, raw []byte, positive bool) (json.Number, error) {
	if kindOf(raw) != '0' {
		return "", paramErr(method, idx, "want a number")
	}
	if end, err := skipNumber(raw, 0); err != nil || end != len(raw) {
		return "", paramErr(method, idx, "malformed number")
	}
	if !validDifficulty(raw, positive) {
		return "", paramErr(method, idx, "number out of range")
	}
	return json.Number(raw), nil
}

// validDifficulty reports whether the number text is >= 0 (and non-zero if
// positive), judged on its mantissa digits so no precision is lost.
func validDifficulty(num []byte, positive bool) bool {
	if len(num) == 0 || num[0] == '-' {
		return !positive && isZeroMantissa(num)
	}
	return !positive || !isZeroMantissa(num)
}

func isZeroMantissa(num []byte) bool {
	for _, c := range num {
		if c == 'e' || c == 'E' {
			break
		}
		if c >= '1' && c <= '9' {
			return false
		}
	}
	return true
}

func decodeBool(method string, idx int, raw []byte) (bool, error) {
	switch kindOf(raw) {
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	return false, paramErr(method, idx, "want a boolean")
}
