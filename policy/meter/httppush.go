package meter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Push endpoint limits.
const (
	// MaxPushBody caps a push request body; a value and a timestamp fit in 100 bytes.
	MaxPushBody = 4 << 10
	// PushQueue is how many accepted pushes may wait for Run; beyond it pushes get 503
	// (policy: refuse the newest, the pusher retries).
	PushQueue = 16
	// MaxPushSkew is how far in the future a pushed "at" may lie (clock skew allowance).
	MaxPushSkew = time.Minute
)

// PushBody is the JSON a device or site controller POSTs to the push endpoint:
// {"value": 1234.5, "at": "2026-01-02T15:04:05Z"}. Value is in the meter's unit; At is
// optional RFC 3339 and defaults to the receive time.
type PushBody struct {
	Value *float64 `json:"value"`
	At    string   `json:"at,omitempty"`
}

// PushSource is an HTTP meter whose readings are pushed to it. It is an http.Handler for
// POST requests carrying "Authorization: Bearer <push_token>" and a [PushBody]; the console
// mounts it at /api/v1/meters/{name}/push. Answers: 204 accepted; 400 malformed body;
// 401 wrong or missing token; 405 not POST; 413 body over MaxPushBody; 415 not JSON;
// 503 the meter is not running or its queue is full.
type PushSource struct {
	base
	tokenSum [sha256.Size]byte
	queue    chan Reading
	running  atomic.Bool
}

var _ http.Handler = (*PushSource)(nil)

func newPushSource(b base) *PushSource {
	return &PushSource{base: b, tokenSum: sha256.Sum256([]byte(b.cfg.PushToken)), queue: make(chan Reading, PushQueue)}
}

// Run forwards accepted pushes to out until ctx is done. Pushes are refused while Run is not
// running, so a push is never accepted and then silently lost.
func (s *PushSource) Run(ctx context.Context, out chan<- Reading) error {
	s.running.Store(true)
	defer s.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.queue:
			s.emit(out, r)
		}
	}
}

// ServeHTTP accepts one pushed reading.
func (s *PushSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, http.StatusMethodNotAllowed, "method not allowed, use POST")
		return
	}
	if !s.authorized(r.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hashgate"`)
		s.reject(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			s.reject(w, http.StatusUnsupportedMediaType, "content type must be application/json")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPushBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.reject(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", MaxPushBody))
			return
		}
		s.reject(w, http.StatusBadRequest, "reading body failed")
		return
	}
	now := s.clock.Now()
	v, at, err := ParsePushBody(body, now)
	if err != nil {
		s.reject(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.running.Load() {
		w.Header().Set("Retry-After", "1")
		s.reject(w, http.StatusServiceUnavailable, "meter is not running")
		return
	}
	select {
	case s.queue <- s.reading(v, at):
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Retry-After", "1")
		s.reject(w, http.StatusServiceUnavailable, "meter queue full")
	}
}

// authorized compares the presented token with the configured one in constant time; hashing
// both first keeps the comparison independent of the token's length too.
func (s *PushSource) authorized(header string) bool {
	const prefix = "Bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(header[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], s.tokenSum[:]) == 1
}

func (s *PushSource) reject(w http.ResponseWriter, status int, msg string) {
	s.pushRejected.Add(1)
	s.log.Info().Int("status", status).Str("reason", msg).Msg("meter push rejected")
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// ParsePushBody strictly decodes a [PushBody]: exactly one JSON object, no unknown fields, a
// finite value, and an optional RFC 3339 "at" no more than MaxPushSkew after now. It returns
// the value and its time (now when "at" is absent).
func ParsePushBody(body []byte, now time.Time) (float64, time.Time, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var pb PushBody
	if err := dec.Decode(&pb); err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if dec.More() || dec.InputOffset() != int64(len(bytes.TrimRight(body, " \t\r\n"))) {
		return 0, time.Time{}, fmt.Errorf("%w: trailing data after the JSON object", ErrPayload)
	}
	if pb.Value == nil {
		return 0, time.Time{}, fmt.Errorf("%w: missing \"value\"", ErrPayload)
	}
	if !finite(*pb.Value) {
		return 0, time.Time{}, fmt.Errorf("%w: value is not finite", ErrPayload)
	}
	at := now
	if pb.At != "" {
		t, err := time.Parse(time.RFC3339Nano, pb.At)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("%w: \"at\" is not RFC 3339", ErrPayload)
		}
		if t.After(now.Add(MaxPushSkew)) {
			return 0, time.Time{}, fmt.Errorf("%w: \"at\" lies more than %s in the future", ErrPayload, MaxPushSkew)
		}
		at = t
	}
	return *pb.Value, at, nil
}
