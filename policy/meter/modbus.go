package meter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/simonvetter/modbus"
)

// Built-in register maps. All three read IEEE 754 float32, big-endian, high word first, in W
// and Hz.
//
// Eastron SDM630 (Modbus protocol manual, input registers, FC04): 30053 "Total system power"
// = PDU address 0x0034; 30071 "Frequency of supply voltages" = 0x0046.
//
// Janitza UMG 96RM/604/508 ("frequently required readings" block, holding registers, FC03):
// 19026 "real power sum L1..L3" and 19050 "measured frequency".
const (
	sdm630PowerAddr = 0x0034
	sdm630FreqAddr  = 0x0046
	janitzaPower    = 19026
	janitzaFreq     = 19050
)

// maxBackoff caps the wait between reconnect attempts: the import meter is safety-critical,
// so a recovered meter must be picked up within seconds.
const maxBackoff = 5 * time.Second

type modbusSource struct {
	base
	client  *modbus.ModbusClient
	open    bool
	sunspec *sunSpecMeter // discovered model, reset on every new connection
}

func newModbusSource(b base) (*modbusSource, error) {
	c, err := modbus.NewClient(&modbus.ClientConfiguration{
		URL:     "tcp://" + b.cfg.Address,
		Timeout: b.cfg.Timeout.D(),
		Logger:  log.New(io.Discard, "", 0),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: address: %w", ErrConfig, err)
	}
	if err := c.SetUnitId(b.cfg.UnitID); err != nil {
		return nil, fmt.Errorf("%w: unit_id: %w", ErrConfig, err)
	}
	return &modbusSource{base: b, client: c}, nil
}

// Run polls the meter every interval. A failed connection is retried with exponential backoff
// from interval up to 5 s; a timeout or broken stream closes the connection (a late answer would
// desynchronise it) and reconnects; an exception response keeps it.
func (s *modbusSource) Run(ctx context.Context, out chan<- Reading) error {
	defer s.disconnect()
	var connected bool // ever connected, for the reconnect counter
	backoff := s.cfg.Interval.D()
	for {
		if !s.open {
			if err := s.client.Open(); err != nil {
				s.log.Info().Err(err).Int64("retry_in_ms", backoff.Milliseconds()).Msg("modbus connect failed")
				s.emit(out, s.failed(QualityUnavailable, describe(err), s.clock.Now()))
				if !sleep(ctx, s.clock, backoff) {
					return nil
				}
				backoff = min(2*backoff, max(maxBackoff, s.cfg.Interval.D()))
				continue
			}
			s.open, s.sunspec = true, nil
			if connected {
				s.reconnects.Add(1)
			}
			connected = true
			backoff = s.cfg.Interval.D()
			s.log.Info().Msg("modbus connected")
		}
		v, err := s.poll()
		now := s.clock.Now()
		switch {
		case err == nil:
			s.emit(out, s.reading(v, now))
		case isException(err) || errors.Is(err, ErrSunSpecNotFound) || errors.Is(err, ErrNoMeterModel) || isValueErr(err):
			s.log.Info().Err(err).Msg("modbus meter returned no usable value")
			s.emit(out, s.failed(QualityInvalid, describeValue(err), now))
		default:
			s.log.Info().Err(err).Msg("modbus request failed, reconnecting")
			s.emit(out, s.failed(QualityUnavailable, describe(err), now))
			s.disconnect()
		}
		if ctx.Err() != nil || !sleep(ctx, s.clock, s.cfg.Interval.D()) {
			return nil
		}
	}
}

func (s *modbusSource) disconnect() {
	if s.open {
		_ = s.client.Close()
		s.open = false
	}
}

// poll reads one value in the device's raw unit.
func (s *modbusSource) poll() (float64, error) {
	freq := s.cfg.Role == RoleFrequency
	switch s.cfg.Map {
	case MapSunSpec:
		if s.sunspec == nil {
			m, err := discoverSunSpec(s.client)
			if err != nil {
				return 0, err
			}
			s.log.Info().Uint16("model", m.model).Uint16("addr", m.addr).Msg("sunspec meter discovered")
			s.sunspec = &m
		}
		if freq {
			return s.sunspec.readFrequency(s.client)
		}
		return s.sunspec.readPower(s.client)
	case MapSDM630:
		if freq {
			return readFloat(s.client, sdm630FreqAddr, modbus.INPUT_REGISTER)
		}
		return readFloat(s.client, sdm630PowerAddr, modbus.INPUT_REGISTER)
	case MapJanitza:
		if freq {
			return readFloat(s.client, janitzaFreq, modbus.HOLDING_REGISTER)
		}
		return readFloat(s.client, janitzaPower, modbus.HOLDING_REGISTER)
	}
	return readCustom(s.client, s.cfg.Registers)
}

// readCustom sums the registers of a custom map.
func readCustom(r registerReader, regs []Register) (float64, error) {
	var sum float64
	for _, reg := range regs {
		table := modbus.HOLDING_REGISTER
		if reg.Function == FunctionInput {
			table = modbus.INPUT_REGISTER
		}
		raw, err := r.ReadRegisters(reg.Address, uint16(reg.Type.words()), table)
		if err != nil {
			return 0, err
		}
		v, err := decodeRegisters(reg.Type, reg.WordOrder, raw)
		if err != nil {
			return 0, fmt.Errorf("register %d: %w", reg.Address, err)
		}
		if reg.ScaleFactorRegister != nil {
			sfRaw, err := r.ReadRegisters(*reg.ScaleFactorRegister, 1, table)
			if err != nil {
				return 0, err
			}
			sf, err := scaleFactor(sfRaw[0])
			if err != nil {
				return 0, fmt.Errorf("register %d: %w", *reg.ScaleFactorRegister, err)
			}
			v *= pow10(sf)
		}
		sum += v * reg.Scale
	}
	return sum, nil
}

// isValueErr reports whether err says the device answered with an unusable value.
func isValueErr(err error) bool {
	return errors.Is(err, ErrNotImplemented) || errors.Is(err, ErrNotFinite) ||
		errors.Is(err, ErrScaleFactor) || errors.Is(err, ErrPayload)
}

func describeValue(err error) error {
	if isException(err) {
		return describe(err)
	}
	return err
}
