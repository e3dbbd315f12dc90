package meter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
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
	// clientID is the client_id key, or one made unique to this process: a broker closes the
	// older session when a second client connects with its id, so two hashgate instances
	// sharing a fixed default would knock each other off in turn.
	clientID string
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
	id := b.cfg.ClientID
	if id == "" {
		var err error
		if id, err = uniqueClientID(b.cfg.Name); err != nil {
			return nil, err
		}
	}
	return &mqttSource{base: b, clientID: id}, nil
}

// uniqueClientID is hashgate-<hostname>-<meter name>-<6 random hex digits>: the host tells an
// operator reading the broker's log whose it is, the random part keeps two processes on one
// host (or two hosts of one name) apart.
func uniqueClientID(meter string) (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("meter %q: client id: %w", meter, err)
	}
	return "hashgate-" + host + "-" + meter + "-" + hex.EncodeToString(b[:]), nil
}

// Flapping: a broker that closes the connection within mqttFlapWindow of the connect, for
// mqttFlapCount connections in a row, most likely saw another client take our id.
const (
	mqttFlapWindow = 30 * time.Second
	mqttFlapCount  = 3
)

// flapWatch counts connections the broker closed soon after connecting. paho calls its
// handlers from its own goroutines, one connection at a time, so a mutex suffices.
type flapWatch struct {
	mu        sync.Mutex
	connected time.Time
	short     int
}

func (f *flapWatch) up(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = now
}

// down records a lost connection and reports how many in a row were short, when that just
// reached mqttFlapCount (so the warning is logged once per streak).
func (f *flapWatch) down(now time.Time) (streak int, warn bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.connected.IsZero() || now.Sub(f.connected) >= mqttFlapWindow {
		f.short = 0
		return 0, false
	}
	f.short++
	return f.short, f.short == mqttFlapCount
}

// Run connects to the broker (retrying until ctx ends), subscribes to the topic on every
// connect, and turns each message into a reading. Losing the broker yields one unavailable
// reading; paho reconnects on its own with backoff capped at 5 s.
func (s *mqttSource) Run(ctx context.Context, out chan<- Reading) error {
	var connects atomic.Int64
	var flaps flapWatch
	opts := mqtt.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.clientID).
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
		flaps.up(s.clock.Now())
		s.log.Info().Str("topic", s.cfg.Topic).Str("client_id", s.clientID).Msg("mqtt connected, subscribing")
		tok := c.Subscribe(s.cfg.Topic, mqttQoS, func(_ mqtt.Client, m mqtt.Message) {
			s.handle(out, m.Payload(), m.Retained())
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
		if n, warn := flaps.down(s.clock.Now()); warn {
			s.log.Warn().Str("client_id", s.clientID).Int("connections", n).Dur("within", mqttFlapWindow).
				Msg("mqtt broker keeps closing the connection right after connect: another client is probably using this client id; give each meter and each hashgate instance its own client_id, or leave it unset")
		}
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
// A retained message is the broker's copy of the meter's last value, however old (the meter may
// have died since), re-sent on every subscribe: it is a reading only with its own timestamp
// (Shelly "ts"), never dated now, or a dead meter would look fresh after each reconnect.
func (s *mqttSource) handle(out chan<- Reading, payload []byte, retained bool) {
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
		if retained {
			s.log.Info().Str("topic", s.cfg.Topic).Msg("mqtt retained value without a timestamp ignored: its age is unknown")
			return
		}
		at = now
	}
	s.send(out, s.reading(v, at))
}
