package meter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTT session settings. QoS 1 is what Shelly publishes status with; a clean session plus a
// re-subscribe in the connect handler survives broker restarts that lose session state.
const (
	mqttQoS            = 1
	mqttKeepAlive      = 10 * time.Second
	mqttConnectTimeout = 5 * time.Second
	mqttDisconnectMS   = 250
)

type mqttSource struct {
	base
	// paho calls handlers on its own goroutines, possibly while Run is returning; stopped
	// (under mu) keeps them from sending on out once Run has returned, when the consumer may
	// already have closed it.
	mu      sync.RWMutex
	stopped bool
}

// send emits r unless Run has returned.
func (s *mqttSource) send(out chan<- Reading, r Reading) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.stopped {
		s.emit(out, r)
	}
}

func newMQTTSource(b base) (*mqttSource, error) {
	return &mqttSource{base: b}, nil
}

// Run connects to the broker (retrying until ctx ends), subscribes to the topic on every
// connect, and turns each message into a reading. Losing the broker yields one unavailable
// reading; paho reconnects on its own with backoff capped at 5 s.
func (s *mqttSource) Run(ctx context.Context, out chan<- Reading) error {
	var connects atomic.Int64
	opts := mqtt.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		SetCleanSession(true).
		SetKeepAlive(mqttKeepAlive).
		SetPingTimeout(mqttKeepAlive / 2).
		SetConnectTimeout(mqttConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(s.cfg.Interval.D()).
		SetMaxReconnectInterval(maxBackoff).
		SetOrderMatters(false)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		if connects.Add(1) > 1 {
			s.reconnects.Add(1)
		}
		s.log.Info().Str("topic", s.cfg.Topic).Msg("mqtt connected, subscribing")
		tok := c.Subscribe(s.cfg.Topic, mqttQoS, func(_ mqtt.Client, m mqtt.Message) {
			s.handle(out, m.Payload())
		})
		go func() {
			// Waiting here would block paho's connect path; check the outcome aside.
			select {
			case <-tok.Done():
			case <-ctx.Done():
				return
			}
			if tok.Error() != nil {
				s.log.Warn().Err(tok.Error()).Str("topic", s.cfg.Topic).Msg("mqtt subscribe refused")
				s.send(out, s.failed(QualityUnavailable, fmt.Errorf("%w: subscribe: %w", ErrUnavailable, tok.Error()), s.clock.Now()))
			}
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.log.Info().Err(err).Msg("mqtt connection lost")
		s.send(out, s.failed(QualityUnavailable, fmt.Errorf("%w: broker connection lost: %w", ErrUnavailable, err), s.clock.Now()))
	})
	client := mqtt.NewClient(opts)
	client.Connect() // with ConnectRetry the token completes only once connected; handlers do the work
	<-ctx.Done()
	client.Disconnect(mqttDisconnectMS)
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return nil
}

// handle decodes one message. It runs on paho's goroutine and never blocks (emit is non-blocking).
func (s *mqttSource) handle(out chan<- Reading, payload []byte) {
	now := s.clock.Now()
	v, at, err := DecodePayload(s.cfg.Format, s.cfg.JSONPath, payload)
	switch {
	case errors.Is(err, errNoValue):
		return
	case err != nil:
		s.log.Info().Err(err).Int("bytes", len(payload)).Msg("mqtt payload rejected")
		s.send(out, s.failed(QualityInvalid, err, now))
		return
	}
	if at.IsZero() {
		at = now
	}
	s.send(out, s.reading(v, at))
}
