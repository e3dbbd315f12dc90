package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// LuxOS replies. The API is cgminer-style JSON over TCP 4028: a request
// {"command":"curtail","parameter":"<sid>,sleep"} gets one JSON object back,
// terminated by NUL, with a STATUS array and one section per command.
// Section and field names follow the LuxOS API reference (docs.luxor.tech
// firmware API: logon, session, curtail, config, power, summary, profiles,
// profileset).

// LuxReply is the reply to one LuxOS command. Only the sections hashgate
// reads are typed; unknown sections are ignored.
type LuxReply struct {
	Status   []CgminerStatus `json:"STATUS"`
	Session  []LuxSession    `json:"SESSION,omitempty"`
	Config   []LuxConfig     `json:"CONFIG,omitempty"`
	Power    []LuxPower      `json:"POWER,omitempty"`
	Summary  []LuxSummary    `json:"SUMMARY,omitempty"`
	Profiles []LuxProfile    `json:"PROFILES,omitempty"`
	Profile  []LuxProfileSet `json:"PROFILE,omitempty"`
	Temps    []LuxTemp       `json:"TEMPS,omitempty"`
	Fans     []LuxFan        `json:"FANS,omitempty"`
	Devs     []LuxDev        `json:"DEVS,omitempty"`
	ID       int             `json:"id"`
}

// LuxTemp is one TEMPS entry (a hashboard): its board and hottest chip
// sensors in degrees Celsius.
type LuxTemp struct {
	ID    int     `json:"ID"`
	Board float64 `json:"Board"`
	Chip  float64 `json:"Chip"`
}

// LuxFan is one FANS entry.
type LuxFan struct {
	ID  int     `json:"ID"`
	RPM float64 `json:"RPM"`
}

// LuxDev is one DEVS entry (a hashboard): cgminer's Status is "Alive",
// "Sick", "Dead" or "NoStart"; MHS 5s its current rate.
type LuxDev struct {
	ASC    int     `json:"ASC"`
	Status string  `json:"Status"`
	MHS5s  float64 `json:"MHS 5s"`
}

// LuxSession is the SESSION section of logon and session.
type LuxSession struct {
	SessionID string `json:"SessionID"`
}

// LuxConfig is the part of the CONFIG section that tells the power state.
// CurtailMode is "None" while mining and "Sleep" (or "Idle") when curtailed.
// RedLed is "off" unless the locate LED was set with ledset.
type LuxConfig struct {
	CurtailMode     string `json:"CurtailMode"`
	RedLed          string `json:"RedLed,omitempty"`
	IsPowerSupplyOn bool   `json:"IsPowerSupplyOn"`
	Profile         string `json:"Profile"`
	Model           string `json:"Model"`
}

// LuxPower is the POWER section: the firmware's estimate of its draw.
type LuxPower struct {
	PSU   bool    `json:"PSU"`
	Watts float64 `json:"Watts"`
}

// LuxSummary is the part of SUMMARY the simulator serves; the driver does
// not ask for SUMMARY (see luxReqStatus).
type LuxSummary struct {
	GHS5s float64 `json:"GHS 5s"`
	GHSav float64 `json:"GHS av"`
	// Elapsed is the mining software's uptime in seconds.
	Elapsed *int64 `json:"Elapsed,omitempty"`
}

// LuxProfile is one entry of PROFILES: a tuned frequency step and its
// nominal draw.
type LuxProfile struct {
	Name      string  `json:"Profile Name"`
	Frequency float64 `json:"Frequency"`
	Hashrate  float64 `json:"Hashrate"`
	Watts     float64 `json:"Watts"`
	Step      string  `json:"Step"`
}

// LuxProfileSet is the PROFILE section of the profileset reply.
type LuxProfileSet struct {
	Profile string `json:"Profile"`
}

// LuxMultiReply is the reply to a "cmd1+cmd2" multi-command: one array per
// command, each holding that command's own reply. The driver decodes the
// sections it reads with decodeLuxStatus.
type LuxMultiReply struct {
	Config   []LuxReply `json:"config,omitempty"`
	Power    []LuxReply `json:"power,omitempty"`
	Summary  []LuxReply `json:"summary,omitempty"`
	Profiles []LuxReply `json:"profiles,omitempty"`
	Temps    []LuxReply `json:"temps,omitempty"`
	Fans     []LuxReply `json:"fans,omitempty"`
	Devs     []LuxReply `json:"devs,omitempty"`
	ID       int        `json:"id"`
}

// DecodeLuxReply parses one LuxOS reply; a reply without a STATUS entry is
// malformed.
func DecodeLuxReply(b []byte) (*LuxReply, error) {
	var r LuxReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if len(r.Status) == 0 {
		return nil, fmt.Errorf("no STATUS")
	}
	return &r, nil
}

// DecodeLuxMultiReply parses a multi-command reply; every section must hold
// exactly one reply carrying a STATUS.
func DecodeLuxMultiReply(b []byte) (*LuxMultiReply, error) {
	var r LuxMultiReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	for name, sec := range map[string][]LuxReply{"config": r.Config, "power": r.Power, "summary": r.Summary, "profiles": r.Profiles,
		"temps": r.Temps, "fans": r.Fans, "devs": r.Devs} {
		if sec == nil {
			continue
		}
		if len(sec) != 1 || len(sec[0].Status) == 0 {
			return nil, fmt.Errorf("section %s malformed", name)
		}
	}
	return &r, nil
}

// Hardware reads the sections of a "temps+fans+summary+devs" reply into a
// Status holding only hardware fields: the hottest board and chip of TEMPS,
// every FANS speed, SUMMARY's Elapsed, and DEVS as hashboards (working:
// Alive and hashing). A section that failed or is missing leaves its
// fields unknown.
func (r *LuxMultiReply) Hardware() Status {
	var st Status
	ok := func(sec []LuxReply) bool { return len(sec) == 1 && sec[0].Status[0].OK() }
	if ok(r.Temps) && len(r.Temps[0].Temps) > 0 {
		st.Known |= FieldBoardTemp | FieldChipTemp
		st.BoardTempC, st.ChipTempC = r.Temps[0].Temps[0].Board, r.Temps[0].Temps[0].Chip
		for _, t := range r.Temps[0].Temps[1:] {
			st.BoardTempC, st.ChipTempC = max(st.BoardTempC, t.Board), max(st.ChipTempC, t.Chip)
		}
	}
	if ok(r.Fans) {
		for _, f := range r.Fans[0].Fans {
			st.AddFan(f.RPM)
		}
	}
	if ok(r.Summary) && len(r.Summary[0].Summary) == 1 && r.Summary[0].Summary[0].Elapsed != nil {
		st.UptimeS, st.Known = *r.Summary[0].Summary[0].Elapsed, st.Known|FieldUptime
	}
	if ok(r.Devs) {
		working := 0
		for _, d := range r.Devs[0].Devs {
			if d.Status == "Alive" && d.MHS5s > 0 {
				working++
			}
		}
		st.SetBoards(working, len(r.Devs[0].Devs))
	}
	return st
}

// luxStatusReply is the part of a "config+power" or "config+power+profiles"
// reply that the status read uses; the rest of the reply is skipped.
// decodeLuxStatus fills it as json.Unmarshal would.
type luxStatusReply struct {
	Config   []luxSection `json:"config"`
	Power    []luxSection `json:"power"`
	Profiles []luxSection `json:"profiles"`
}

// luxSection is one command's reply inside a multi-command reply.
type luxSection struct {
	Status   []luxStatusLetter `json:"STATUS"`
	Config   []luxConfigState  `json:"CONFIG"`
	Power    []luxPowerWatts   `json:"POWER"`
	Profiles []luxProfileWatts `json:"PROFILES"`
}

// luxStatusLetter is the STATUS letter of a CgminerStatus.
type luxStatusLetter struct {
	Status string `json:"STATUS"`
}

// OK reports a success or informational status.
func (s luxStatusLetter) OK() bool { return s.Status == "S" || s.Status == "I" }

// luxConfigState is the part of LuxConfig the status read uses.
type luxConfigState struct {
	CurtailMode string `json:"CurtailMode"`
	Profile     string `json:"Profile"`
}

// luxPowerWatts is the part of LuxPower the status read uses.
type luxPowerWatts struct {
	Watts float64 `json:"Watts"`
}

// luxProfileWatts is the part of LuxProfile the status read uses.
type luxProfileWatts struct {
	Name  string  `json:"Profile Name"`
	Watts float64 `json:"Watts"`
}

// decodeLuxStatus parses a status reply into r, which must be zero. As in
// DecodeLuxMultiReply, every section present must hold exactly one reply
// carrying a STATUS.
func decodeLuxStatus(b []byte, r *luxStatusReply) error {
	if err := parseLuxStatus(b, r); err != nil {
		return err
	}
	for _, sec := range [...]struct {
		name string
		s    []luxSection
	}{{"config", r.Config}, {"power", r.Power}, {"profiles", r.Profiles}} {
		if sec.s != nil && (len(sec.s) != 1 || len(sec.s[0].Status) == 0) {
			return fmt.Errorf("section %s malformed", sec.name)
		}
	}
	return nil
}

// parseLuxStatus is json.Unmarshal(b, r) for the status reply, written out
// because telemetry decodes a thousand replies a second and encoding/json
// (reflection, a validating pass then a decoding pass, deep stacks) took
// three to four times the CPU (BenchmarkLuxStatusDecode). It walks the
// reply once, decoding the fields of luxStatusReply and validating
// whatever else it skips. FuzzLuxStatusDecoder holds it to encoding/json:
// the same value for every input json.Unmarshal accepts, and an error for
// every input json.Unmarshal rejects (syntax, a wrong type for a field,
// nesting deeper than 10,000 levels). One difference is deliberate: a
// member this decoder reads that is named twice in one object (names
// matched as encoding/json matches them, case-insensitively) is
// errLuxDuplicate, where json.Unmarshal would merge the two.
func parseLuxStatus(b []byte, r *luxStatusReply) error {
	d := luxDecoder{b: b}
	d.space()
	err := d.object(0, luxReplyNames, func(i int) error {
		return luxArray(&d, 1, luxReplySections(r)[i], (*luxDecoder).section)
	})
	if err != nil {
		return err
	}
	d.space()
	if d.i != len(b) {
		return d.syntaxErr()
	}
	return nil
}

// Member names of the objects decoded, in the order of their fields.
var (
	luxReplyNames   = []string{"config", "power", "profiles"}
	luxSectionNames = []string{"STATUS", "CONFIG", "POWER", "PROFILES"}
	luxStatusNames  = []string{"STATUS"}
	luxConfigNames  = []string{"CurtailMode", "Profile"}
	luxPowerNames   = []string{"Watts"}
	luxProfileNames = []string{"Profile Name", "Watts"}
)

func luxReplySections(r *luxStatusReply) [3]*[]luxSection {
	return [3]*[]luxSection{&r.Config, &r.Power, &r.Profiles}
}

func (d *luxDecoder) section(s *luxSection, depth int) error {
	return d.object(depth, luxSectionNames, func(i int) error {
		switch i {
		case 0:
			return luxArray(d, depth+1, &s.Status, (*luxDecoder).statusLetter)
		case 1:
			return luxArray(d, depth+1, &s.Config, (*luxDecoder).configState)
		case 2:
			return luxArray(d, depth+1, &s.Power, (*luxDecoder).powerWatts)
		}
		return luxArray(d, depth+1, &s.Profiles, (*luxDecoder).profileWatts)
	})
}

func (d *luxDecoder) statusLetter(s *luxStatusLetter, depth int) error {
	return d.object(depth, luxStatusNames, func(int) error { return d.stringField(&s.Status) })
}

func (d *luxDecoder) configState(c *luxConfigState, depth int) error {
	return d.object(depth, luxConfigNames, func(i int) error {
		if i == 0 {
			return d.stringField(&c.CurtailMode)
		}
		return d.stringField(&c.Profile)
	})
}

func (d *luxDecoder) powerWatts(p *luxPowerWatts, depth int) error {
	return d.object(depth, luxPowerNames, func(int) error { return d.floatField(&p.Watts) })
}

func (d *luxDecoder) profileWatts(p *luxProfileWatts, depth int) error {
	return d.object(depth, luxProfileNames, func(i int) error {
		if i == 0 {
			return d.stringField(&p.Name)
		}
		return d.floatField(&p.Watts)
	})
}

// errLuxDuplicate is a decoded member named twice in one object.
var errLuxDuplicate = errors.New("member named twice")

// luxMaxDepth is encoding/json's limit on nesting.
const luxMaxDepth = 10000

// luxDecoder is a cursor over one reply.
type luxDecoder struct {
	b []byte
	i int
}

func (d *luxDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *luxDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *luxDecoder) syntaxErr() error {
	if d.i >= len(d.b) {
		return errors.New("unexpected end of reply")
	}
	return fmt.Errorf("invalid character %q at offset %d", d.b[d.i], d.i)
}

func (d *luxDecoder) typeErr(what string) error {
	return fmt.Errorf("%s expected at offset %d", what, d.i)
}

// object decodes an object, or null, nested in a container at depth:
// field decodes the value of the member named names[i], other members
// are skipped. As encoding/json, it matches names exactly or, failing
// that, equal under Unicode simple case folding.
func (d *luxDecoder) object(depth int, names []string, field func(i int) error) error {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '{':
	default:
		return d.typeErr("object")
	}
	d.i++
	var seen uint
	for first := true; ; first = false {
		key, ok, err := d.member(first, true)
		if err != nil || !ok {
			return err
		}
		i := slices.IndexFunc(names, func(n string) bool { return string(key) == n || bytes.EqualFold(key, []byte(n)) })
		switch {
		case i < 0:
			err = d.skip(depth + 1)
		case seen&(1<<i) != 0:
			err = errLuxDuplicate
		default:
			seen |= 1 << i
			err = field(i)
		}
		if err != nil {
			return err
		}
	}
}

// luxArray decodes an array of T, or null, into *out; the array is
// nested in an object at depth.
func luxArray[T any](d *luxDecoder, depth int, out *[]T, elem func(d *luxDecoder, v *T, depth int) error) error {
	switch d.peek() {
	case 'n':
		*out = nil
		return d.literal("null")
	case '[':
	default:
		return d.typeErr("array")
	}
	d.i++
	list := []T{}
	for first := true; ; first = false {
		ok, err := d.element(first)
		if err != nil {
			return err
		}
		if !ok {
			*out = list
			return nil
		}
		list = append(list, *new(T))
		if err := elem(d, &list[len(list)-1], depth+1); err != nil {
			return err
		}
	}
}

// stringField decodes a string, or null, into *out.
func (d *luxDecoder) stringField(out *string) error {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '"':
		s, err := d.str(true)
		if err == nil {
			*out = string(s)
		}
		return err
	}
	return d.typeErr("string")
}

// floatField decodes a number, or null, into *out.
func (d *luxDecoder) floatField(out *float64) error {
	switch c := d.peek(); {
	case c == 'n':
		return d.literal("null")
	case c == '-' || isDigit(c):
		n, err := d.number()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err == nil {
			*out = f
		}
		return err
	}
	return d.typeErr("number")
}

// skip consumes any value nested in a container at depth, validating it.
func (d *luxDecoder) skip(depth int) error {
	switch c := d.peek(); {
	case c == '{', c == '[':
		if depth+1 > luxMaxDepth {
			return fmt.Errorf("nesting deeper than %d at offset %d", luxMaxDepth, d.i)
		}
		d.i++
		for first := true; ; first = false {
			var ok bool
			var err error
			if c == '{' {
				_, ok, err = d.member(first, false)
			} else {
				ok, err = d.element(first)
			}
			if err != nil || !ok {
				return err
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	case c == '"':
		_, err := d.str(false)
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || isDigit(c):
		_, err := d.number()
		return err
	}
	return d.syntaxErr()
}

// member starts the next member of an object whose '{' is consumed and
// returns its name (unquoted when want); ok is false after the closing
// '}'.
func (d *luxDecoder) member(first, want bool) (name []byte, ok bool, err error) {
	if ok, err = d.next(first, '}'); !ok || err != nil {
		return nil, ok, err
	}
	if d.peek() != '"' {
		return nil, false, d.syntaxErr()
	}
	if name, err = d.str(want); err != nil {
		return nil, false, err
	}
	d.space()
	if d.peek() != ':' {
		return nil, false, d.syntaxErr()
	}
	d.i++
	d.space()
	return name, true, nil
}

// element starts the next element of an array whose '[' is consumed; ok
// is false after the closing ']'.
func (d *luxDecoder) element(first bool) (ok bool, err error) {
	return d.next(first, ']')
}

// next consumes the ',' before a member or element that is not the first,
// or the closing bracket; ok is false after the closing bracket.
func (d *luxDecoder) next(first bool, closing byte) (ok bool, err error) {
	d.space()
	switch c := d.peek(); {
	case c == closing:
		d.i++
		return false, nil
	case first:
	case c == ',':
		d.i++
		d.space()
	default:
		return false, d.syntaxErr()
	}
	return true, nil
}

// literal consumes lit (true, false or null).
func (d *luxDecoder) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if d.peek() != lit[k] {
			return d.syntaxErr()
		}
		d.i++
	}
	return nil
}

// str consumes a string and returns its contents, unquoted when want: a
// string of printable ASCII without escapes is returned as it stands (no
// copy), any other is unquoted by encoding/json itself.
func (d *luxDecoder) str(want bool) ([]byte, error) {
	start := d.i
	d.i++ // '"'
	plain := true
	for {
		c := d.peek()
		switch {
		case d.i >= len(d.b), c < 0x20:
			return nil, d.syntaxErr()
		case c == '"':
			d.i++
			if !want {
				return nil, nil
			}
			if plain {
				return d.b[start+1 : d.i-1], nil
			}
			var s string
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				return nil, err
			}
			return []byte(s), nil
		case c == '\\':
			plain = false
			d.i++
			switch d.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				d.i++
				for k := 0; k < 4; k++ {
					if !isHex(d.peek()) {
						return nil, d.syntaxErr()
					}
					d.i++
				}
			default:
				return nil, d.syntaxErr()
			}
		default:
			plain = plain && c < 0x80
			d.i++
		}
	}
}

// number consumes a JSON number and returns its text.
func (d *luxDecoder) number() ([]byte, error) {
	start := d.i
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return nil, d.syntaxErr()
	}
	if d.peek() == '.' {
		d.i++
		if !isDigit(d.peek()) {
			return nil, d.syntaxErr()
		}
		d.digits()
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !isDigit(d.peek()) {
			return nil, d.syntaxErr()
		}
		d.digits()
	}
	return d.b[start:d.i], nil
}

func (d *luxDecoder) digits() {
	for isDigit(d.peek()) {
		d.i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
