package sv1

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Lines are written through json.Marshal of typed values. The few hot paths
// (AppendNotify, AppendBoolResponse, AppendErrorResponse) are hand-written
// appenders; fuzz tests prove them byte-equal to the json.Marshal path.
// Every Append function writes one complete line including its LF.

// wireRequest is the member order hashgate writes for requests and
// notifications.
type wireRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params Params          `json:"params"`
}

// wireResponse is the member order hashgate writes for responses.
type wireResponse struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result"`
	Error  *Error          `json:"error"`
}

var errNilParams = errors.New("sv1: nil params")

func normID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nil
	}
	return id
}

// AppendRequest appends {"id":id,"method":...,"params":[...]} and LF.
func AppendRequest(dst []byte, id json.RawMessage, p Params) ([]byte, error) {
	if p == nil {
		return dst, errNilParams
	}
	b, err := json.Marshal(wireRequest{ID: normID(id), Method: p.Method(), Params: p})
	if err != nil {
		return dst, err
	}
	return append(append(dst, b...), '\n'), nil
}

// AppendNotification appends {"id":null,"method":...,"params":[...]} and LF.
func AppendNotification(dst []byte, p Params) ([]byte, error) {
	return AppendRequest(dst, nil, p)
}

// AppendResponse appends {"id":id,"result":result,"error":e} and LF. result
// is marshalled with json.Marshal (nil is null); e nil is null.
func AppendResponse(dst []byte, id json.RawMessage, result any, e *Error) ([]byte, error) {
	b, err := json.Marshal(wireResponse{ID: normID(id), Result: result, Error: e})
	if err != nil {
		return dst, err
	}
	return append(append(dst, b...), '\n'), nil
}

// AppendBoolResponse appends {"id":id,"result":ok,"error":null} and LF: the
// reply to an accepted share or authorize. id must be a valid JSON id (as
// produced by Decode, IntID or StringID).
func AppendBoolResponse(dst []byte, id json.RawMessage, ok bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendID(dst, id)
	if ok {
		return append(dst, `,"result":true,"error":null}`+"\n"...)
	}
	return append(dst, `,"result":false,"error":null}`+"\n"...)
}

// AppendErrorResponse appends {"id":id,"result":null,"error":[code,"msg",data]}
// and LF, the rejection form every client parses (sv1.md section 6). id must
// be a valid JSON id.
func AppendErrorResponse(dst []byte, id json.RawMessage, e *Error) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"result":null,"error":`...)
	if e == nil {
		return append(dst, "null}\n"...)
	}
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(e.Code), 10)
	dst = append(dst, ',')
	dst = appendString(dst, e.Message)
	dst = append(dst, ',')
	if len(e.Data) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = appendCompact(dst, e.Data)
	}
	return append(dst, "]}\n"...)
}

// appendID writes an id as json.Marshal writes a json.RawMessage.
func appendID(dst []byte, id json.RawMessage) []byte {
	if len(id) == 0 {
		return append(dst, "null"...)
	}
	return appendCompact(dst, id)
}

// appendCompact mirrors encoding/json's handling of a json.RawMessage:
// whitespace outside strings removed, <, >, & and U+2028/U+2029 escaped.
func appendCompact(dst, src []byte) []byte {
	inString, escaped := false, false
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		} else if c == '"' {
			inString = true
		} else if isSpace(c) {
			dst = append(dst, src[start:i]...)
			start = i + 1
			continue
		}
		if c == '<' || c == '>' || c == '&' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as json.Marshal writes a Go string (HTML-safe
// escaping, invalid UTF-8 replaced by U+FFFD).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendHex writes b as a lowercase hex JSON string.
func appendHex(dst, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
	}
	return append(dst, '"')
}

// appendHex32 writes v as an 8-digit big-endian hex JSON string.
func appendHex32(dst []byte, v uint32) []byte {
	dst = append(dst, '"')
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xF])
	}
	return append(dst, '"')
}

// hex32 returns v as 8 hex digits, for the json.Marshal paths.
func hex32(v uint32) string {
	var b [10]byte
	return string(appendHex32(b[:0], v)[1:9])
}
