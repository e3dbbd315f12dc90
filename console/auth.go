package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

const (
	sessionCookie = "hashgate_session"
	csrfHeader    = "X-CSRF-Token"
	maxSessions   = 10000 // oldest evicted beyond this
	maxLimiters   = 4096  // login limiters kept, one per IPv4 address or IPv6 /64
	// maxBlockLimiters bounds the login limiters shared per IPv4 /24 or IPv6 /48 by the
	// addresses a full limiter table cannot take.
	maxBlockLimiters = 4096
	// verifySlots bounds concurrent argon2id verifications: each needs tens of MiB.
	verifySlots = 2
	// verifyWaiting bounds the logins waiting for a verify slot; more are answered 503 at
	// once, so a flood cannot queue seconds of argon2id ahead of the operator's own login.
	verifyWaiting = 8
	// peerLogBurst and peerLogEvery sample the login log lines any client can cause.
	peerLogBurst = 20
	peerLogEvery = 3 * time.Second
)

// identity is who made a request.
type identity struct {
	kind string // user, token, anonymous
	name string
	role Role
	sess *session // set for cookie logins
}

// actor is the name passed to the Backend for the audit trail.
func (id identity) actor() string {
	if id.kind == "anonymous" {
		return "anonymous"
	}
	return id.kind + ":" + id.name
}

type session struct {
	user    string
	role    Role
	csrf    string
	expires time.Time
	created time.Time
}

type tokenEntry struct {
	name string
	role Role
	sum  [sha256.Size]byte
}

type userEntry struct {
	role Role
	hash passwordHash
}

// auth holds accounts, sessions and login limiters.
type auth struct {
	now      func() time.Time
	ttl      time.Duration
	perMin   int
	users    map[string]userEntry
	tokens   []tokenEntry
	dummy    passwordHash // verified for unknown users, so timing does not reveal names
	verifier chan struct{}
	waiting  atomic.Int64 // logins waiting for a verify slot, at most verifyWaiting
	// peerLog samples the login lines an unauthenticated client can cause.
	peerLog zerolog.Sampler

	mu       sync.Mutex
	sessions map[string]*session
	limiters limiterTable  // by limiterKey
	blocks   limiterTable  // by blockKey, for the keys a full limiters cannot take
	overflow *rate.Limiter // shared by the keys neither full table can take
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

// limiterTable holds at most max login buckets by key.
type limiterTable struct {
	max    int
	m      map[string]*limiterEntry
	pruned time.Time // last scan of the full table
}

// get is key's bucket, added if the table has room once keys idle for a minute are
// forgotten; nil when the table is full of buckets still refilling.
func (t *limiterTable) get(key string, now time.Time, newLimiter func() *rate.Limiter) *limiterEntry {
	e := t.m[key]
	if e == nil {
		if len(t.m) >= t.max {
			t.prune(now)
		}
		if len(t.m) >= t.max {
			return nil
		}
		e = &limiterEntry{l: newLimiter()}
		t.m[key] = e
	}
	e.seen = now
	return e
}

// prune forgets keys idle for a minute. A bucket refills from empty in one minute, so each
// one forgotten was full again and its key regains nothing. A flood of fresh keys against a
// full table scans it at most once a second.
func (t *limiterTable) prune(now time.Time) {
	if now.Sub(t.pruned) < time.Second {
		return
	}
	t.pruned = now
	for k, e := range t.m {
		if now.Sub(e.seen) >= time.Minute {
			delete(t.m, k)
		}
	}
}

func newAuth(cfg *Config, now func() time.Time) (*auth, error) {
	a := &auth{now: now, ttl: cfg.SessionTTL.D(), perMin: cfg.LoginsPerMinute,
		users: make(map[string]userEntry), sessions: make(map[string]*session),
		limiters: limiterTable{max: maxLimiters, m: make(map[string]*limiterEntry)},
		blocks:   limiterTable{max: maxBlockLimiters, m: make(map[string]*limiterEntry)},
		verifier: make(chan struct{}, verifySlots),
		peerLog:  clockSampler{now: now, l: rate.NewLimiter(rate.Every(peerLogEvery), peerLogBurst)}}
	a.overflow = a.newLimiter()
	for _, u := range cfg.Users {
		h, err := parsePasswordHash(u.PasswordHash)
		if err != nil {
			return nil, err
		}
		a.users[u.Name] = userEntry{role: u.Role, hash: h}
		a.dummy = h
	}
	if len(cfg.Users) > 0 {
		a.dummy.salt = append([]byte(nil), a.dummy.salt...)
		a.dummy.salt[0] ^= 0xff
	}
	for _, t := range cfg.Tokens {
		sum, err := parseTokenHash(t.TokenHash)
		if err != nil {
			return nil, err
		}
		a.tokens = append(a.tokens, tokenEntry{name: t.Name, role: t.Role, sum: sum})
	}
	return a, nil
}

func (a *auth) configured() bool { return len(a.users) > 0 || len(a.tokens) > 0 }

// identify authenticates r by bearer token or session cookie. Without any account configured
// everyone is an anonymous viewer (Validate allows that on loopback only).
func (a *auth) identify(r *http.Request) (identity, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return identity{}, false
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		var found *tokenEntry
		for i := range a.tokens { // compare every entry: the time taken does not depend on which matched
			if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
				found = &a.tokens[i]
			}
		}
		if found == nil {
			return identity{}, false
		}
		return identity{kind: "token", name: found.name, role: found.role}, true
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if s := a.session(c.Value); s != nil {
			return identity{kind: "user", name: s.user, role: s.role, sess: s}, true
		}
	}
	if !a.configured() {
		return identity{kind: "anonymous", name: "anonymous", role: RoleViewer}, true
	}
	return identity{}, false
}

func (a *auth) session(id string) *session {
	key := sessionKey(id)
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[key]
	if s == nil {
		return nil
	}
	if !a.now().Before(s.expires) {
		delete(a.sessions, key)
		return nil
	}
	return s
}

// sessionKey hashes a session ID so the table holds nothing a memory dump could replay.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return string(sum[:])
}

// newLimiter is one key's login bucket: logins_per_minute at once, refilled in a minute.
func (a *auth) newLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(a.perMin)/60), a.perMin)
}

// allowLogin spends one login attempt for the peer address ip (see limiterKey). When the
// table is full of buckets still refilling, a new key shares the bucket of its IPv4 /24 or
// IPv6 /48 (blockKey): forgetting any kept bucket would hand its key, perhaps one an
// attacker has just used up, a fresh burst, and one bucket shared by every newcomer would
// let a single /48, whose /64s alone fill the table, keep it empty for everyone else. Only
// while the block table is full too, of blocks each tried within the minute, do the
// remaining newcomers share the one overflow bucket.
func (a *auth) allowLogin(ip string) bool {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.limiters.get(limiterKey(ip), now, a.newLimiter)
	if e == nil {
		e = a.blocks.get(blockKey(ip), now, a.newLimiter)
	}
	if e == nil {
		return a.overflow.AllowN(now, 1)
	}
	return e.l.AllowN(now, 1)
}

// limiterKey is the login limiter's key for a peer address: the IPv4 address, or the IPv6
// /64, because one host is routinely given a whole /64 and would otherwise get a fresh
// burst from each of its addresses.
func limiterKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// blockKey is the address block whose keys share a bucket when the limiter table is full:
// the IPv4 /24, the smallest block routed on the internet, or the IPv6 /48, the usual
// allocation to one site, so one attacker's block does not reach an operator elsewhere.
func blockKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.WithZone("").Unmap()
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p.String()
}

// clockSampler passes log lines at the rate of l on the console's clock.
type clockSampler struct {
	now func() time.Time
	l   *rate.Limiter
}

func (c clockSampler) Sample(zerolog.Level) bool { return c.l.AllowN(c.now(), 1) }

// errNoUsers is the login answer when no [[console.user]] is configured: there is no
// password to check (and no hash whose timing could hide a name).
var errNoUsers = errors.New("password login is not enabled: no [[console.user]] is configured; use an API token")

// login checks a password and opens a session, returning its ID. It fails with
// errVerifyBusy when too many logins wait for a password check, and with ctx's error when
// the client leaves before its turn.
func (a *auth) login(ctx context.Context, name, password string) (string, *session, error) {
	if len(a.users) == 0 {
		return "", nil, errNoUsers
	}
	u, known := a.users[name]
	h := a.dummy
	if known {
		h = u.hash
	}
	ok, err := a.verify(ctx, &h, password)
	if err != nil {
		return "", nil, err
	}
	if !ok || !known {
		return "", nil, errBadLogin
	}
	id, csrf := randomToken(), randomToken()
	now := a.now()
	s := &session{user: name, role: u.role, csrf: csrf, expires: now.Add(a.ttl), created: now}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sessions) >= maxSessions {
		a.evictSessions(now)
	}
	a.sessions[sessionKey(id)] = s
	return id, s, nil
}

// errBadLogin is the one answer for an unknown name and a wrong password alike.
var errBadLogin = errors.New("wrong name or password")

// errVerifyBusy is the login answer when verifyWaiting logins already wait for a slot.
var errVerifyBusy = errors.New("too many logins in progress; retry in a few seconds")

// verify checks password against h in one of the verifySlots; the slot is released however
// the check ends, so one failure cannot lock every later login out. A login waits for a slot
// only while its client is there, and at most verifyWaiting wait.
func (a *auth) verify(ctx context.Context, h *passwordHash, password string) (bool, error) {
	select {
	case a.verifier <- struct{}{}:
	default:
		if err := a.wait(ctx); err != nil {
			return false, err
		}
	}
	defer func() { <-a.verifier }()
	if err := ctx.Err(); err != nil { // the slot and the hang-up were both ready
		return false, err
	}
	return h.verify(password), nil
}

// wait takes a verify slot, queueing behind at most verifyWaiting-1 others.
func (a *auth) wait(ctx context.Context) error {
	for {
		n := a.waiting.Load()
		if n >= verifyWaiting {
			return errVerifyBusy
		}
		if a.waiting.CompareAndSwap(n, n+1) {
			break
		}
	}
	defer a.waiting.Add(-1)
	select {
	case a.verifier <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *auth) evictSessions(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, k)
			continue
		}
		if oldestKey == "" || s.created.Before(oldest) {
			oldestKey, oldest = k, s.created
		}
	}
	if len(a.sessions) >= maxSessions {
		delete(a.sessions, oldestKey)
	}
}

func (a *auth) logout(id string) {
	a.mu.Lock()
	delete(a.sessions, sessionKey(id))
	a.mu.Unlock()
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientIP is the peer address of r. X-Forwarded-For is not trusted: a reverse proxy in
// front of the console must do its own rate limiting.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// hostAllowed reports whether the console answers to hostport (a Host header or an Origin's
// host) when it runs without accounts: localhost, a loopback address or one of allowed_hosts,
// on any port.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return true
	}
	for _, h := range s.cfg.AllowedHosts {
		if strings.EqualFold(strings.Trim(h, "[]"), host) {
			return true
		}
	}
	return false
}

// originAllowed accepts requests without an Origin header (non-browser clients, which must
// still authenticate), the console's own origin and the configured extra origins. Without
// accounts the console's own origin must also be a host it serves (see hostGuard): a page
// on a rebound name is the same origin as its request, but not an allowed one.
func (s *Server) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) && (s.auth.configured() || s.hostAllowed(u.Host)) {
		return true
	}
	origin := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, a := range s.cfg.AllowedOrigins {
		if strings.ToLower(strings.TrimSuffix(a, "/")) == origin {
			return true
		}
	}
	return false
}

// csrfOK checks a state-changing request: a cookie session must echo its CSRF token in the
// X-CSRF-Token header (a cross-site form or fetch cannot read it), and a browser's Origin
// must be allowed. Bearer-token requests carry no ambient credentials and need neither.
func (s *Server) csrfOK(r *http.Request, id identity) bool {
	if !s.originAllowed(r) {
		return false
	}
	if id.sess == nil {
		return true
	}
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(id.sess.csrf)) == 1
}
