package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
)

// dropQueueFull is the drop reason for a notification pushed out of a full webhook queue.
const dropQueueFull = "alert_webhook_queue_full"

// Notification statuses.
const (
	statusFiring   = "firing"
	statusResolved = "resolved"
)

// notification is one message to a webhook.
type notification struct {
	Status   string // firing | resolved
	Repeat   bool   // a reminder of an alert still firing
	Instance string
	Alert    Alert
}

// Payload is the JSON body POSTed to a webhook. Text is what Slack, Mattermost and similar
// incoming webhooks show; the other fields are for receivers that route or deduplicate.
type Payload struct {
	Text string `json:"text"`
	// Status is firing or resolved.
	Status string `json:"status"`
	// Repeat marks a reminder of an alert that has been firing for repeat_interval.
	Repeat bool `json:"repeat,omitempty"`
	// Instance is [alert] instance, or the host name.
	Instance string `json:"instance"`
	Alert    Alert  `json:"alert"`
}

func (n *notification) payload() Payload {
	a := &n.Alert
	var text string
	switch {
	case n.Status == statusResolved:
		text = fmt.Sprintf("[RESOLVED] %s: %s (fired for %s)", n.Instance, a.Summary, a.Ended.Sub(a.FiringSince).Round(time.Second))
	case n.Repeat:
		text = fmt.Sprintf("[STILL FIRING %s] %s: %s. %s", a.Severity, n.Instance, a.Summary, a.Description)
	default:
		text = fmt.Sprintf("[FIRING %s] %s: %s. %s", a.Severity, n.Instance, a.Summary, a.Description)
	}
	return Payload{Text: text, Status: n.Status, Repeat: n.Repeat, Instance: n.Instance, Alert: *a}
}

// Back-off between tries of one notification.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// maxResponse is how much of a receiver's answer is read (to reuse the connection) or
	// quoted in a log line.
	maxResponse = 64 << 10
)

// webhook is one [[alert.webhook]]: its queue and the sender goroutine that drains it.
type webhook struct {
	cfg    WebhookConfig
	client *http.Client
	clk    clock.Clock
	log    zerolog.Logger

	mu    sync.Mutex
	queue []notification // at most capacity; the oldest is dropped when full
	cap   int
	ready chan struct{} // signalled when queue becomes non-empty

	dropped atomic.Uint64
	dropLog zerolog.Logger // sampled: a dead receiver drops one per transition
}

func newWebhook(cfg WebhookConfig, capacity int, clk clock.Clock, log zerolog.Logger) *webhook {
	l := log.With().Str("webhook", cfg.Name).Logger()
	return &webhook{cfg: cfg, clk: clk, log: l, cap: capacity, ready: make(chan struct{}, 1),
		dropLog: l.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Minute}),
		client: &http.Client{
			Timeout: cfg.Timeout.D(),
			// A redirect would carry the configured headers to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// enqueue adds n without waiting; a full queue drops its oldest notification.
func (w *webhook) enqueue(n notification) {
	w.mu.Lock()
	if len(w.queue) >= w.cap {
		old := w.queue[0]
		w.queue = append(w.queue[:0], w.queue[1:]...)
		w.dropped.Add(1)
		w.dropLog.Warn().Str("alert", old.Alert.Name).Str("status", old.Status).Int("queue", w.cap).
			Msg("alert webhook queue full: oldest notification dropped (the receiver is not keeping up)")
	}
	w.queue = append(w.queue, n)
	w.mu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

func (w *webhook) next() (notification, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return notification{}, false
	}
	n := w.queue[0]
	w.queue = append(w.queue[:0], w.queue[1:]...)
	return n, true
}

// run delivers queued notifications in order until ctx ends.
func (w *webhook) run(ctx context.Context) {
	for {
		n, ok := w.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-w.ready:
				continue
			}
		}
		w.deliver(ctx, &n)
		if ctx.Err() != nil {
			return
		}
	}
}

// errPermanent marks a receiver's answer that a retry would not change.
var errPermanent = errors.New("not retried")

// deliver tries n up to attempts times with doubling back-off, and logs when it gives up.
func (w *webhook) deliver(ctx context.Context, n *notification) {
	body, err := json.Marshal(n.payload())
	if err != nil {
		w.log.Error().Err(err).Str("alert", n.Alert.Name).Msg("alert notification not encoded")
		return
	}
	backoff := minBackoff
	for try := 1; ; try++ {
		err = w.post(ctx, body)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errPermanent) || try >= w.cfg.Attempts {
			w.log.Warn().Err(err).Str("alert", n.Alert.Name).Str("status", n.Status).Int("attempts", try).
				Msg("alert notification not delivered")
			return
		}
		w.log.Debug().Err(err).Str("alert", n.Alert.Name).Int("attempt", try).Dur("retry_in", backoff).Msg("alert notification failed; retrying")
		if !w.sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// sleep waits d on the clock; false when ctx ended first.
func (w *webhook) sleep(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	t := w.clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// post sends body once. Errors never hold the URL, whose path is often the secret.
func (w *webhook) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: bad request: %w", errPermanent, redact(err))
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hashgate-alert")
	if w.cfg.Secret != "" {
		ts := strconv.FormatInt(w.clk.Now().Unix(), 10)
		req.Header.Set("X-Hashgate-Timestamp", ts)
		req.Header.Set("X-Hashgate-Signature", Sign(w.cfg.Secret, ts, body))
	}
	res, err := w.client.Do(req)
	if err != nil {
		return redact(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	switch c := res.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 300 && c < 400:
		return fmt.Errorf("%w: receiver answered %d (redirects are not followed)", errPermanent, c)
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("receiver answered %d: %s", c, quote(answer))
	default:
		return fmt.Errorf("%w: receiver answered %d: %s", errPermanent, c, quote(answer))
	}
}

// Sign is the X-Hashgate-Signature of a request: "sha256=" and the hex HMAC-SHA256, keyed by
// the webhook's secret, of the X-Hashgate-Timestamp value, ".", and the body. A receiver
// recomputes it and rejects old timestamps to refuse forged or replayed notifications.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// redact strips the URL from net/http's errors.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s: timed out: %w", strings.ToLower(ue.Op), ue.Err)
		}
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// quote cuts a receiver's answer to one short printable line for the log.
func quote(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
