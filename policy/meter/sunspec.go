package meter

import (
	"errors"
	"fmt"
	"math"

	"github.com/simonvetter/modbus"
)

// SunSpec layout, from the SunSpec Information Model (sunspec/models json/model_1.json and
// model_201..204, 211..214). Offsets count registers from a model's ID register: ID and L come
// first, then L registers of points.
const (
	sunSpecMarkerHi = 0x5375 // "Su"
	sunSpecMarkerLo = 0x6E53 // "nS"
	sunSpecEnd      = 0xFFFF // the end model's ID

	// Integer meter models 201 (single phase), 202 (split phase), 203 (wye), 204 (delta):
	// points are int16 with sunssf scale factors; all four share one layout (L = 105).
	ssIntHz   = 16 // Hz, int16
	ssIntHzSF = 17 // Hz_SF
	ssIntW    = 18 // W, total real power, int16 (then WphA, WphB, WphC)
	ssIntWSF  = 22 // W_SF
	ssIntLen  = 105

	// Float meter models 211..214 (L = 124): float32, high word first.
	ssFloatHz  = 26
	ssFloatW   = 28
	ssFloatLen = 124

	// maxModels bounds the model walk against a device whose chain never ends.
	maxModels = 64
)

// sunSpecBases are where SunSpec devices put the "SunS" marker, in probing order.
var sunSpecBases = []uint16{40000, 50000, 0}

// registerReader is the read side of a Modbus client.
type registerReader interface {
	ReadRegisters(addr, quantity uint16, regType modbus.RegType) ([]uint16, error)
}

// sunSpecMeter is a discovered SunSpec meter model.
type sunSpecMeter struct {
	model uint16 // 201..204 or 211..214
	addr  uint16 // address of the model's ID register
}

func (m sunSpecMeter) isFloat() bool { return m.model >= 211 }

// discoverSunSpec finds the "SunS" marker and walks the model chain to the first meter model.
// Exceptions at a base mean "not here"; any other error is returned as is (the link is down).
func discoverSunSpec(r registerReader) (sunSpecMeter, error) {
	for _, base := range sunSpecBases {
		regs, err := r.ReadRegisters(base, 2, modbus.HOLDING_REGISTER)
		if err != nil {
			if isException(err) {
				continue
			}
			return sunSpecMeter{}, err
		}
		if regs[0] != sunSpecMarkerHi || regs[1] != sunSpecMarkerLo {
			continue
		}
		return walkSunSpec(r, uint32(base)+2)
	}
	return sunSpecMeter{}, ErrSunSpecNotFound
}

func walkSunSpec(r registerReader, addr uint32) (sunSpecMeter, error) {
	for range maxModels {
		if addr+1 > math.MaxUint16 {
			break
		}
		hdr, err := r.ReadRegisters(uint16(addr), 2, modbus.HOLDING_REGISTER)
		if err != nil {
			return sunSpecMeter{}, err
		}
		id, length := hdr[0], hdr[1]
		if id == sunSpecEnd {
			break
		}
		switch {
		case id >= 201 && id <= 204 && length >= ssIntLen:
			return sunSpecMeter{model: id, addr: uint16(addr)}, nil
		case id >= 211 && id <= 214 && length >= ssFloatLen:
			return sunSpecMeter{model: id, addr: uint16(addr)}, nil
		}
		addr += 2 + uint32(length)
	}
	return sunSpecMeter{}, ErrNoMeterModel
}

// readPower returns total real power in W.
func (m sunSpecMeter) readPower(r registerReader) (float64, error) {
	if m.isFloat() {
		return readFloat(r, m.addr+ssFloatW, modbus.HOLDING_REGISTER)
	}
	regs, err := r.ReadRegisters(m.addr+ssIntW, ssIntWSF-ssIntW+1, modbus.HOLDING_REGISTER)
	if err != nil {
		return 0, err
	}
	return scaled(regs[0], regs[ssIntWSF-ssIntW])
}

// readFrequency returns the line frequency in Hz.
func (m sunSpecMeter) readFrequency(r registerReader) (float64, error) {
	if m.isFloat() {
		return readFloat(r, m.addr+ssFloatHz, modbus.HOLDING_REGISTER)
	}
	regs, err := r.ReadRegisters(m.addr+ssIntHz, 2, modbus.HOLDING_REGISTER)
	if err != nil {
		return 0, err
	}
	return scaled(regs[0], regs[1])
}

// scaled applies a sunssf to an int16 point.
func scaled(raw, sfRaw uint16) (float64, error) {
	v, err := decodeRegisters(TypeInt16, HighWordFirst, []uint16{raw})
	if err != nil {
		return 0, err
	}
	sf, err := scaleFactor(sfRaw)
	if err != nil {
		return 0, err
	}
	return v * pow10(sf), nil
}

func readFloat(r registerReader, addr uint16, t modbus.RegType) (float64, error) {
	regs, err := r.ReadRegisters(addr, 2, t)
	if err != nil {
		return 0, err
	}
	return decodeRegisters(TypeFloat32, HighWordFirst, regs)
}

// isException reports whether err is a Modbus exception response: the device (or gateway)
// answered, so the connection itself is fine.
func isException(err error) bool {
	var me modbus.Error
	if !errors.As(err, &me) {
		return false
	}
	switch me {
	case modbus.ErrIllegalFunction, modbus.ErrIllegalDataAddress, modbus.ErrIllegalDataValue,
		modbus.ErrServerDeviceFailure, modbus.ErrAcknowledge, modbus.ErrServerDeviceBusy,
		modbus.ErrMemoryParityError, modbus.ErrGWPathUnavailable, modbus.ErrGWTargetFailedToRespond:
		return true
	}
	return false
}

// describe wraps a Modbus client error with the matching sentinel.
func describe(err error) error {
	if isException(err) {
		return fmt.Errorf("%w: %w", ErrDeviceException, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
