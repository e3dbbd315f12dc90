package sv1

import (
	"encoding/json"
	"strconv"
)

// Reconnect is the params of client.reconnect (sv1.md section 3.11):
// [host, port, wait_seconds], all optional; [] means "reconnect to the same
// server". The port comes as a number (Braiins: ["stratum.slushpool.com",
// 3333, 1]) or a string (ckpool); PortString records which so that it is
// re-encoded in the same form (cgminer reads only a string port).
type Reconnect struct {
	Host       string
	Port       uint16 // 0 when absent
	PortString bool
	Wait       int // seconds
}

var _ Params = (*Reconnect)(nil)

// Method implements Params.
func (Reconnect) Method() string { return MethodReconnect }

// UnmarshalJSON implements Params.
func (r *Reconnect) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodReconnect, raw, arr[:0])
	if err != nil {
		return err
	}
	*r = Reconnect{}
	if len(p) > 0 {
		if r.Host, err = decodeOptString(MethodReconnect, 0, p[0]); err != nil {
			return err
		}
	}
	if len(p) > 1 {
		switch kindOf(p[1]) {
		case '0':
			n, err := decodeInt(MethodReconnect, 1, p[1], 0, 65535)
			if err != nil {
				return err
			}
			r.Port = uint16(n)
		case '"':
			s, err := decodeString(MethodReconnect, 1, p[1])
			if err != nil {
				return err
			}
			if s != "" {
				n, err := strconv.ParseUint(s, 10, 16)
				if err != nil {
					return paramErr(MethodReconnect, 1, "port is not a number")
				}
				r.Port = uint16(n)
			}
			r.PortString = true
		case 'n':
		default:
			return paramErr(MethodReconnect, 1, "want a port")
		}
	}
	if len(p) > 2 && kindOf(p[2]) != 'n' {
		n, err := decodeInt(MethodReconnect, 2, p[2], 0, 1<<31-1)
		if err != nil {
			return err
		}
		r.Wait = int(n)
	}
	return nil
}

// MarshalJSON implements Params: [] when empty, else [host, port, wait].
func (r Reconnect) MarshalJSON() ([]byte, error) {
	if r.Host == "" && r.Port == 0 && r.Wait == 0 && !r.PortString {
		return []byte("[]"), nil
	}
	var port any = r.Port
	if r.PortString {
		port = ""
		if r.Port != 0 {
			port = strconv.Itoa(int(r.Port))
		}
	}
	return json.Marshal([3]any{r.Host, port, r.Wait})
}

// GetVersion is the params of client.get_version (sv1.md section 3.11): [].
// Reply with a response whose result is the agent/version string.
type GetVersion struct{}

var _ Params = (*GetVersion)(nil)

// Method implements Params.
func (GetVersion) Method() string { return MethodGetVersion }

// UnmarshalJSON implements Params.
func (*GetVersion) UnmarshalJSON(raw []byte) error { return decodeEmpty(MethodGetVersion, raw) }

// MarshalJSON implements Params.
func (GetVersion) MarshalJSON() ([]byte, error) { return []byte("[]"), nil }

// ShowMessage is the params of client.show_message (sv1.md section 3.11):
// ["text"], display only.
type ShowMessage struct {
	Text string
}

var _ Params = (*ShowMessage)(nil)

// Method implements Params.
func (ShowMessage) Method() string { return MethodShowMessage }

// UnmarshalJSON implements Params.
func (s *ShowMessage) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodShowMessage, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodShowMessage, -1, "missing text")
	}
	s.Text, err = decodeOptString(MethodShowMessage, 0, p[0])
	return err
}

// MarshalJSON implements Params.
func (s ShowMessage) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]string{s.Text})
}

// Ping is the params of mining.ping (ckpool; sv1.md section 3.11): [].
// Accept both reply shapes: a response with result "pong" (cgminer) and a
// request-shaped {"method":"pong"} (ESP-Miner, see Pong). hashgate answers
// with the response shape.
type Ping struct{}

var _ Params = (*Ping)(nil)

// Method implements Params.
func (Ping) Method() string { return MethodPing }

// UnmarshalJSON implements Params.
func (*Ping) UnmarshalJSON(raw []byte) error { return decodeEmpty(MethodPing, raw) }

// MarshalJSON implements Params.
func (Ping) MarshalJSON() ([]byte, error) { return []byte("[]"), nil }

// PongResult is the result hashgate sends in reply to mining.ping.
const PongResult = "pong"

// Pong is the params of ESP-Miner's request-shaped ping reply
// {"id":42,"method":"pong","params":[]}; its id is the ping's id.
type Pong struct{}

var _ Params = (*Pong)(nil)

// Method implements Params.
func (Pong) Method() string { return MethodPong }

// UnmarshalJSON implements Params.
func (*Pong) UnmarshalJSON(raw []byte) error { return decodeEmpty(MethodPong, raw) }

// MarshalJSON implements Params.
func (Pong) MarshalJSON() ([]byte, error) { return []byte("[]"), nil }

// GetTransactions is the params of the legacy mining.get_transactions
// (sv1.md section 3.11): ["job_id"]; bfgminer sends it. Answer with an error
// or an empty list.
type GetTransactions struct {
	JobID string
}

var _ Params = (*GetTransactions)(nil)

// Method implements Params.
func (GetTransactions) Method() string { return MethodGetTransactions }

// UnmarshalJSON implements Params.
func (g *GetTransactions) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodGetTransactions, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodGetTransactions, -1, "missing job id")
	}
	g.JobID, err = decodeJobID(MethodGetTransactions, 0, p[0])
	return err
}

// MarshalJSON implements Params.
func (g GetTransactions) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]string{g.JobID})
}
