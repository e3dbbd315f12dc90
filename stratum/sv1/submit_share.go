package sv1

// UnmarshalShare is UnmarshalJSON for a proxy's share path: the same checks, values and
// errors, except that the worker name is checked and not kept (Worker is left empty). A proxy
// answers for the worker its connection authorized; copying each share's name cost an
// allocation per share at 10,000 miners, whose names differ from line to line.
//
// The params every miner sends, five or six plain strings with no whitespace
// (["w","1f","00000001","6553f100","1a2b3c4d","00002000"]), are split in one pass; anything
// else, and any error, goes through UnmarshalJSON, so the two never disagree (FuzzSubmitShare).
func (s *Submit) UnmarshalShare(raw []byte) error {
	var elems [6][]byte
	n, ok := splitPlainStrings(raw, &elems)
	if ok && (n == 5 || n == 6) && s.decodeShareFast(elems[:n]) {
		return nil
	}
	if err := s.UnmarshalJSON(raw); err != nil {
		return err
	}
	s.Worker = ""
	return nil
}

// decodeShareFast decodes the quoted elements e; false leaves the rest to UnmarshalJSON.
func (s *Submit) decodeShareFast(e [][]byte) bool {
	const m = MethodSubmit
	var err error
	if s.JobID, err = decodeJobIDReuse(m, 1, e[1], s.JobID); err != nil {
		return false
	}
	if s.Extranonce2, err = decodeHex(m, 2, e[2], s.Extranonce2, MaxExtranonce2Size); err != nil {
		return false
	}
	if s.NTime, err = decodeHex32(m, 3, e[3], false, true); err != nil {
		return false
	}
	if s.Nonce, err = decodeHex32(m, 4, e[4], false, true); err != nil {
		return false
	}
	s.VersionBits, s.HasVersionBits = 0, false
	if len(e) == 6 {
		if s.VersionBits, err = decodeHex32(m, 5, e[5], false, false); err != nil {
			return false
		}
		s.HasVersionBits = true
	}
	s.Worker = ""
	return true
}

// splitPlainStrings splits a JSON array of at most len(out) strings of printable ASCII
// without escapes, written with no whitespace, into out (each element with its quotes). ok is
// false for anything else: more elements, another type, an escape, whitespace.
func splitPlainStrings(raw []byte, out *[6][]byte) (n int, ok bool) {
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return 0, false
	}
	i := 1
	for {
		if n == len(out) || i >= len(raw) || raw[i] != '"' {
			return 0, false
		}
		start := i
		i++
		for i < len(raw) && raw[i] != '"' {
			if c := raw[i]; c < 0x20 || c >= 0x7f || c == '\\' {
				return 0, false
			}
			i++
		}
		if i >= len(raw) {
			return 0, false
		}
		i++ // the closing quote
		out[n] = raw[start:i:i]
		n++
		switch {
		case i == len(raw)-1: // the closing bracket
			return n, true
		case raw[i] == ',':
			i++
		default:
			return 0, false
		}
	}
}
