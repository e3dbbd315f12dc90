package meter

import (
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/simonvetter/modbus"
)

// Fault is a misbehaviour the Modbus simulator can be told to show.
type Fault int

// Faults.
const (
	FaultNone Fault = iota
	// FaultNotImplemented: SunSpec power reads 0x8000 (float models NaN 0x7FC00000);
	// SDM630 and Janitza floats read NaN.
	FaultNotImplemented
	// FaultBadScaleFactor: SunSpec W_SF and Hz_SF read 0x8000; float maps read +Inf.
	FaultBadScaleFactor
	// FaultException: every read answers exception 04 (server device failure).
	FaultException
	// FaultStall: reads get no answer until the fault is cleared or the server stops, so
	// clients hit their request timeout.
	FaultStall
)

// ModbusConfig configures a ModbusServer.
type ModbusConfig struct {
	// Address to listen on, host:port. Port 0 (the default, on 127.0.0.1) picks a free port
	// once, at NewModbusServer, so the server keeps its address across Stop and Start.
	Address string
	// UnitID the server answers; 0 answers every unit id.
	UnitID uint8
	// SunSpecBase is where the "SunS" marker sits: 40000 (default) or 50000.
	SunSpecBase uint16
	// SunSpecModel is the meter model: 201, 202, 203 (default), 204, or 211..214 (float).
	SunSpecModel uint16
	Logger       zerolog.Logger
}

// Register addresses of the simulated maps (zero-based PDU addresses).
const (
	sdm630Power   = 0x0034 // input register, float32 W ("Total system power", 30053)
	sdm630Freq    = 0x0046 // input register, float32 Hz (30071)
	sdm630Len     = 0x0050
	janitzaBase   = 19000 // holding, float32 block
	janitzaPower  = 19026 // real power sum L1..L3, W
	janitzaFreq   = 19050 // Hz
	janitzaLen    = 52
	commonLen     = 66  // SunSpec model 1 L
	meterIntLen   = 105 // SunSpec models 201..204 L
	meterFloatLen = 124 // SunSpec models 211..214 L
)

// ModbusServer is a simulated meter speaking Modbus TCP.
type ModbusServer struct {
	cfg  ModbusConfig
	log  zerolog.Logger
	srv  *modbus.ModbusServer
	addr string

	mu      sync.Mutex
	powerW  float64
	freqHz  float64
	fault   Fault
	release chan struct{} // closed to free stalled requests
	reads   uint64
}

// NewModbusServer builds a server; call Start to listen.
func NewModbusServer(cfg ModbusConfig) (*ModbusServer, error) {
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
	if cfg.SunSpecBase == 0 {
		cfg.SunSpecBase = 40000
	}
	if cfg.SunSpecModel == 0 {
		cfg.SunSpecModel = 203
	}
	if m := cfg.SunSpecModel; !(m >= 201 && m <= 204) && !(m >= 211 && m <= 214) {
		return nil, fmt.Errorf("sim/meter: SunSpec model %d is not a meter model", m)
	}
	if cfg.SunSpecBase != 40000 && cfg.SunSpecBase != 50000 {
		return nil, fmt.Errorf("sim/meter: SunSpec base %d (want 40000 or 50000)", cfg.SunSpecBase)
	}
	addr, err := fixPort(cfg.Address)
	if err != nil {
		return nil, err
	}
	s := &ModbusServer{cfg: cfg, log: cfg.Logger, addr: addr, freqHz: 50, release: make(chan struct{})}
	s.srv, err = modbus.NewServer(&modbus.ServerConfiguration{
		URL:        "tcp://" + addr,
		Timeout:    time.Minute,
		MaxClients: 16,
		Logger:     log.New(io.Discard, "", 0),
	}, s)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// fixPort turns port 0 into a concrete free port so restarts reuse the address.
func fixPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Addr is host:port the server listens on.
func (s *ModbusServer) Addr() string { return s.addr }

// Start listens; it may be called again after Stop.
func (s *ModbusServer) Start() error {
	s.mu.Lock()
	select {
	case <-s.release:
		s.release = make(chan struct{})
	default:
	}
	s.mu.Unlock()
	return s.srv.Start()
}

// Stop closes the listener and every client connection, releasing stalled requests.
func (s *ModbusServer) Stop() error {
	s.mu.Lock()
	s.freeStalled()
	s.mu.Unlock()
	return s.srv.Stop()
}

func (s *ModbusServer) freeStalled() {
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

// SetPower sets the total real power, in W (negative for export).
func (s *ModbusServer) SetPower(w float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.powerW = w
}

// SetFrequency sets the line frequency in Hz.
func (s *ModbusServer) SetFrequency(hz float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freqHz = hz
}

// SetFault switches the misbehaviour; FaultNone restores normal answers.
func (s *ModbusServer) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == FaultStall && f != FaultStall {
		s.freeStalled()
		s.release = make(chan struct{})
	}
	s.fault = f
}

// Reads counts register reads served (answered or failed).
func (s *ModbusServer) Reads() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// HandleCoils implements modbus.RequestHandler: the meter has no coils.
func (s *ModbusServer) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

// HandleDiscreteInputs implements modbus.RequestHandler: the meter has no discrete inputs.
func (s *ModbusServer) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

// HandleHoldingRegisters serves the SunSpec and Janitza maps; writes are refused.
func (s *ModbusServer) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	if req.IsWrite {
		return nil, modbus.ErrIllegalFunction
	}
	return s.read(req.UnitId, req.Addr, req.Quantity, s.holding)
}

// HandleInputRegisters serves the SDM630 map.
func (s *ModbusServer) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	return s.read(req.UnitId, req.Addr, req.Quantity, s.input)
}

// read answers a read of quantity registers at addr from one table image.
func (s *ModbusServer) read(unit uint8, addr, quantity uint16, table func(st state) map[uint16]uint16) ([]uint16, error) {
	s.mu.Lock()
	s.reads++
	st := state{powerW: s.powerW, freqHz: s.freqHz, fault: s.fault, unit: unit}
	release := s.release
	s.mu.Unlock()
	if s.cfg.UnitID != 0 && unit != s.cfg.UnitID {
		return nil, modbus.ErrGWTargetFailedToRespond
	}
	switch st.fault {
	case FaultException:
		return nil, modbus.ErrServerDeviceFailure
	case FaultStall:
		<-release
		return nil, modbus.ErrServerDeviceBusy
	}
	img := table(st)
	out := make([]uint16, quantity)
	for i := range out {
		v, ok := img[addr+uint16(i)]
		if !ok {
			return nil, modbus.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

type state struct {
	powerW, freqHz float64
	fault          Fault
	unit           uint8
}

// float32 value for the float maps under the current fault.
func (st state) float(v float64) float64 {
	switch st.fault {
	case FaultNotImplemented:
		return math.NaN()
	case FaultBadScaleFactor:
		return math.Inf(1)
	}
	return v
}

func putFloat(img map[uint16]uint16, addr uint16, v float64) {
	b := math.Float32bits(float32(v))
	img[addr], img[addr+1] = uint16(b>>16), uint16(b)
}

func (s *ModbusServer) input(st state) map[uint16]uint16 {
	img := make(map[uint16]uint16, sdm630Len)
	for a := uint16(0); a < sdm630Len; a += 2 {
		putFloat(img, a, 0)
	}
	for a := uint16(0); a < 6; a += 2 { // phase voltages 30001..30005
		putFloat(img, a, 230)
	}
	putFloat(img, sdm630Power, st.float(st.powerW))
	putFloat(img, sdm630Freq, st.float(st.freqHz))
	return img
}

func (s *ModbusServer) holding(st state) map[uint16]uint16 {
	img := make(map[uint16]uint16, 256)
	for a := uint16(janitzaBase); a < janitzaBase+janitzaLen; a += 2 {
		putFloat(img, a, 0)
	}
	putFloat(img, janitzaPower, st.float(st.powerW))
	putFloat(img, janitzaFreq, st.float(st.freqHz))
	for i, v := range sunSpecImage(s.cfg.SunSpecModel, st) {
		img[s.cfg.SunSpecBase+uint16(i)] = v
	}
	return img
}

// sunSpecImage lays out "SunS", common model 1, the meter model and the end model.
func sunSpecImage(model uint16, st state) []uint16 {
	img := []uint16{0x5375, 0x6E53, 1, commonLen}
	common := make([]uint16, commonLen)
	putString(common[0:16], "hashgate")
	putString(common[16:32], "sim-meter")
	putString(common[40:48], "1.0")
	putString(common[48:64], "SIM0001")
	common[64] = uint16(st.unit) // DA
	common[65] = 0x8000          // Pad
	img = append(img, common...)
	if model >= 211 {
		img = append(img, floatMeterModel(model, st)...)
	} else {
		img = append(img, intMeterModel(model, st)...)
	}
	return append(img, 0xFFFF, 0)
}

func putString(dst []uint16, s string) {
	b := make([]byte, 2*len(dst))
	copy(b, s)
	for i := range dst {
		dst[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
}

// intMeterModel fills models 201..204: int16 points with sunssf scale factors, every
// optional point "not implemented" (0x8000) unless set.
func intMeterModel(model uint16, st state) []uint16 {
	m := make([]uint16, 2+meterIntLen)
	for i := range m {
		m[i] = 0x8000
	}
	m[0], m[1] = model, meterIntLen
	// Energy accumulators (acc32) read 0 when not implemented.
	for off := 38; off < 2+meterIntLen; off++ {
		m[off] = 0
	}
	w, wsf := toScaled(st.powerW)
	hz, hzsf := toScaled(st.freqHz)
	m[16], m[17] = hz, hzsf // Hz, Hz_SF
	m[18], m[22] = w, wsf   // W, W_SF
	if model == 203 || model == 204 {
		p, _ := scaledWith(st.powerW/3, int16(wsf))
		m[19], m[20], m[21] = p, p, p
	}
	switch st.fault {
	case FaultNotImplemented:
		m[18] = 0x8000
	case FaultBadScaleFactor:
		m[17], m[22] = 0x8000, 0x8000
	}
	return m
}

// floatMeterModel fills models 211..214 (float32, NaN = not implemented).
func floatMeterModel(model uint16, st state) []uint16 {
	m := make([]uint16, 2+meterFloatLen)
	m[0], m[1] = model, meterFloatLen
	img := map[uint16]uint16{}
	for off := uint16(2); off < 2+meterFloatLen; off += 2 {
		putFloat(img, off, math.NaN())
	}
	putFloat(img, 26, st.float(st.freqHz))
	putFloat(img, 28, st.float(st.powerW))
	for off := uint16(2); off < 2+meterFloatLen; off++ {
		m[off] = img[off]
	}
	return m
}

// toScaled picks the smallest scale factor from -2 up that fits v into an int16.
func toScaled(v float64) (uint16, uint16) {
	for sf := int16(-2); sf <= 10; sf++ {
		if r, ok := scaledWith(v, sf); ok {
			return r, uint16(sf)
		}
	}
	return 0x8000, 0x8000
}

func scaledWith(v float64, sf int16) (uint16, bool) {
	r := math.Round(v / math.Pow10(int(sf)))
	if r < -32767 || r > 32767 {
		return 0, false
	}
	return uint16(int16(r)), true
}
