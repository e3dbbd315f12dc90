package meter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

type pollSource struct {
	base
	client *http.Client
}

func newPollSource(b base, c *http.Client) *pollSource {
	return &pollSource{base: b, client: c}
}

// Run GETs the URL every interval and decodes the body like an MQTT payload
// (Shelly /rpc/EM.GetStatus, a vendor EMS, a JSON document with json_path).
func (s *pollSource) Run(ctx context.Context, out chan<- Reading) error {
	for {
		r := s.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.emit(out, r)
		if !sleep(ctx, s.clock, s.cfg.Interval.D()) {
			return nil
		}
	}
}

func (s *pollSource) poll(ctx context.Context) Reading {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return s.failed(QualityUnavailable, fmt.Errorf("%w: %w", ErrUnavailable, err), s.clock.Now())
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Info().Err(err).Msg("http poll failed")
		return s.failed(QualityUnavailable, fmt.Errorf("%w: %w", ErrUnavailable, err), s.clock.Now())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPayload+1))
	now := s.clock.Now()
	if err != nil {
		return s.failed(QualityUnavailable, fmt.Errorf("%w: reading body: %w", ErrUnavailable, err), now)
	}
	if resp.StatusCode != http.StatusOK {
		s.log.Info().Int("status", resp.StatusCode).Msg("http poll: unexpected status")
		return s.failed(QualityUnavailable, fmt.Errorf("%w: HTTP status %d", ErrUnavailable, resp.StatusCode), now)
	}
	v, at, err := DecodePayload(s.cfg.Format, s.cfg.JSONPath, body)
	if errors.Is(err, errNoValue) {
		err = fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if err != nil {
		s.log.Info().Err(err).Msg("http poll: payload rejected")
		return s.failed(QualityInvalid, err, now)
	}
	if at.IsZero() {
		at = now
	}
	return s.reading(v, at)
}
