package firmware

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// digestChallenge is a parsed WWW-Authenticate: Digest header (RFC 7616).
type digestChallenge struct {
	realm, nonce, opaque, qop, algorithm string
}

// parseDigestChallenge reads the parameters hashgate needs; only MD5 with
// qop "auth" (or no qop) is supported, which is what Antminer CGI offers.
func parseDigestChallenge(h string) (digestChallenge, error) {
	var c digestChallenge
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), "Digest ")
	if !ok {
		return c, errors.New("not a digest challenge")
	}
	for _, part := range splitDigestParams(rest) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "realm":
			c.realm = v
		case "nonce":
			c.nonce = v
		case "opaque":
			c.opaque = v
		case "qop":
			for _, q := range strings.Split(v, ",") {
				if strings.TrimSpace(q) == "auth" {
					c.qop = "auth"
				}
			}
		case "algorithm":
			c.algorithm = v
		}
	}
	if c.nonce == "" {
		return c, errors.New("digest challenge without nonce")
	}
	if c.algorithm != "" && !strings.EqualFold(c.algorithm, "MD5") {
		return c, fmt.Errorf("digest algorithm %q unsupported", c.algorithm)
	}
	return c, nil
}

// splitDigestParams splits on commas outside quotes.
func splitDigestParams(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// authorization builds the Authorization header for one request.
func (c digestChallenge) authorization(user, pass, method, uri string) string {
	ha1 := md5hex(user + ":" + c.realm + ":" + pass)
	ha2 := md5hex(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, user, c.realm, c.nonce, uri)
	if c.qop == "auth" {
		var cn [8]byte
		_, _ = rand.Read(cn[:])
		cnonce := hex.EncodeToString(cn[:])
		const nc = "00000001"
		resp := md5hex(ha1 + ":" + c.nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		fmt.Fprintf(&b, `, qop=auth, nc=%s, cnonce="%s", response="%s"`, nc, cnonce, resp)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, md5hex(ha1+":"+c.nonce+":"+ha2))
	}
	if c.opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, c.opaque)
	}
	b.WriteString(", algorithm=MD5")
	return b.String()
}
