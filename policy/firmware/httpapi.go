package firmware

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// maxHeaderBytes bounds a reply's headers, which MaxReplyBytes (a body
// limit) does not reach: net/http would otherwise buffer up to 10 MB per
// reply. A miner's headers are a few hundred bytes.
func maxHeaderBytes(cfg *Config) int64 { return int64(min(cfg.MaxReplyBytes, 64<<10)) }

// newHTTPClient returns the client REST drivers share: bounded dial and
// header waits, capped headers, keep-alive pooling per miner, no redirects
// (a miner has no business sending us elsewhere).
func newHTTPClient(cfg *Config) *http.Client {
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		ResponseHeaderTimeout:  cfg.IOTimeout,
		MaxResponseHeaderBytes: maxHeaderBytes(cfg),
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       cfg.IOTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpReply is a raw HTTP answer, body capped.
type httpReply struct {
	Code   int
	Header http.Header
	Body   []byte
}

// httpDo sends one request; body, when not nil, is sent as JSON.
func httpDo(ctx context.Context, cfg *Config, c *http.Client, method, url string, hdr http.Header, body any) (*httpReply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, ctxOr(ctx, netErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(cfg.MaxReplyBytes)+1))
	if err != nil {
		return nil, ctxOr(ctx, netErr(err))
	}
	if len(b) > cfg.MaxReplyBytes {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, errReplyTooLarge)
	}
	return &httpReply{Code: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// success reports a 2xx answer. Redirects are not followed, so a 3xx is
// not one.
func (r *httpReply) success() bool { return r.Code >= 200 && r.Code <= 299 }

// httpRefusal turns a non-2xx reply into an error; 401 and 403 are ErrAuth.
func httpRefusal(fw, what string, r *httpReply) error {
	ce := &CommandError{Firmware: fw, Command: what, Code: r.Code, Msg: http.StatusText(r.Code)}
	if r.Code == http.StatusUnauthorized || r.Code == http.StatusForbidden {
		return fmt.Errorf("%w: %w", ErrAuth, ce)
	}
	return ce
}

// decodeJSON unmarshals a reply body, reporting garbage as ErrProtocol.
func decodeJSON(fw, what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return protoErr(fw, what, err)
	}
	return nil
}
