package firmware

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// braiinsDriver speaks the Braiins OS public API: gRPC on port 50051 over
// HTTP/2 cleartext (braiins/bos-plus-api v1.11.0). gRPC framing and the
// few messages used are encoded by hand (protowire.go, braiins_msg.go), so
// no generated code or gRPC library is needed; the transport is
// net/http's HTTP/2 client with prior knowledge.
//
// What it can do:
//   - Sleep: ActionsService/PauseMining; read back as MINER_STATUS_PAUSED
//     from the first message of the MinerService/GetMinerStatus stream.
//   - Wake: ActionsService/ResumeMining.
//   - SetPowerTarget: PerformanceService/SetPowerTarget with
//     SAVE_ACTION_SAVE_AND_APPLY, any watt value within the tuner's
//     constraints (ConfigurationService/GetConstraints); read back from
//     PerformanceService/GetTunerState.
//   - Reboot: ActionsService/Reboot.
//   - Locate: ActionsService/SetLocateDeviceStatus, whose reply carries
//     the LED state it reached.
//   - Hardware: CoolingService/GetCoolingState (fans, hottest sensor),
//     MinerService/GetHashboards (board and chip temperatures, enabled
//     boards hashing) and MinerService/GetMinerDetails (uptime), read at
//     most every hardwareTTL per miner and merged into Status.
//
// Auth: AuthenticationService/Login returns a token sent in the
// "authorization" metadata; it expires after timeout_s (3600 s) of
// inactivity and is refreshed by use. Tokens are cached per miner; an
// UNAUTHENTICATED answer triggers one fresh login, a second is ErrAuth.
// Username defaults to "root".
//
// Not used: the legacy cgminer-compatible API on 4028 (pause/resume only)
// and the REST mirror some releases serve on port 80, for which we found no
// vendor documentation.
type braiinsDriver struct {
	cfg  *Config
	http *http.Client

	mu     sync.Mutex
	tokens map[string]string // by host:port

	hw hwCache
}

func newBraiins(cfg *Config) Driver {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols:   &p,
		DialContext: (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		// Also the HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE we announce and
		// enforce, trailers included.
		MaxResponseHeaderBytes: maxHeaderBytes(cfg),
	}
	return &braiinsDriver{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.IOTimeout}, tokens: make(map[string]string)}
}

func (d *braiinsDriver) Firmware() string { return Braiins }

// gRPC status codes hashgate distinguishes.
const (
	grpcOK              = 0
	grpcDeadline        = 4
	grpcUnimplemented   = 12
	grpcUnauthenticated = 16
)

// grpcError is a non-OK gRPC status.
type grpcError struct {
	code int
	msg  string
}

func (e *grpcError) Error() string { return fmt.Sprintf("grpc status %d: %s", e.code, e.msg) }

// grpcFrame prefixes msg with gRPC's 5-byte header: uncompressed flag and
// big-endian length.
func grpcFrame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// readGRPCFrame reads one message, refusing compression and oversize.
func readGRPCFrame(r io.Reader, max int) ([]byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0 {
		return nil, fmt.Errorf("%w: compressed or invalid gRPC frame flag %#x", ErrProtocol, h[0])
	}
	n := binary.BigEndian.Uint32(h[1:])
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, errReplyTooLarge)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, fmt.Errorf("%w: short gRPC frame: %w", ErrProtocol, err)
	}
	return msg, nil
}

func grpcStatusFrom(h http.Header) (int, string, bool) {
	v := h.Get("Grpc-Status")
	if v == "" {
		return 0, "", false
	}
	code, err := strconv.Atoi(v)
	if err != nil {
		return -1, v, true
	}
	return code, h.Get("Grpc-Message"), true
}

// invoke performs one unary call (or reads the first message of a server
// stream) and returns the response message.
func (d *braiinsDriver) invoke(ctx context.Context, addr, method, token string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // also ends a server stream after its first message
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/"+method, bytes.NewReader(grpcFrame(req)))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/grpc")
	hr.Header.Set("Te", "trailers")
	if token != "" {
		hr.Header.Set("Authorization", token)
	}
	resp, err := d.http.Do(hr)
	if err != nil {
		return nil, ctxOr(ctx, netErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &CommandError{Firmware: Braiins, Command: method, Code: resp.StatusCode, Msg: http.StatusText(resp.StatusCode)}
	}
	if code, msg, ok := grpcStatusFrom(resp.Header); ok && code != grpcOK { // trailers-only
		return nil, &grpcError{code: code, msg: msg}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/grpc") {
		return nil, fmt.Errorf("%w: content-type %q", ErrProtocol, ct)
	}
	msg, err := readGRPCFrame(resp.Body, d.cfg.MaxReplyBytes)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if code, m, ok := grpcStatusFrom(resp.Trailer); ok && code != grpcOK {
				return nil, &grpcError{code: code, msg: m}
			}
			return nil, fmt.Errorf("%w: no gRPC message", ErrProtocol)
		}
		return nil, ctxOr(ctx, netErr(err))
	}
	if braiinsStream(method) {
		return msg, nil
	}
	// A unary call's outcome is the status in the trailers that follow its
	// message, not the message alone.
	var more [1]byte
	switch _, err := io.ReadFull(resp.Body, more[:]); {
	case err == nil:
		return nil, fmt.Errorf("%w: more than one message in a unary reply", ErrProtocol)
	case !errors.Is(err, io.EOF):
		return nil, ctxOr(ctx, netErr(err))
	}
	if code, m, ok := grpcStatusFrom(resp.Trailer); ok && code != grpcOK {
		return nil, &grpcError{code: code, msg: m}
	}
	return msg, nil
}

// braiinsStream reports the server-streaming methods hashgate calls, of
// which it reads the first message only; the others are unary.
func braiinsStream(method string) bool {
	return method == "braiins.bos.v1.MinerService/GetMinerStatus"
}

func (d *braiinsDriver) login(ctx context.Context, t Target, addr string) (string, error) {
	user := t.Username
	if user == "" {
		user = "root"
	}
	req := BraiinsLoginRequest{Username: user, Password: t.Password}
	raw, err := d.invoke(ctx, addr, "braiins.bos.v1.AuthenticationService/Login", "", req.MarshalProto())
	if err != nil {
		var ge *grpcError
		if errors.As(err, &ge) {
			return "", fmt.Errorf("%w: login: %w", ErrAuth, err)
		}
		return "", err
	}
	var lr BraiinsLoginResponse
	if err := lr.UnmarshalProto(raw); err != nil || lr.Token == "" {
		return "", protoErr(Braiins, "login", fmt.Errorf("bad login response: %v", err))
	}
	return lr.Token, nil
}

// call invokes an authenticated method, logging in first or again once
// after UNAUTHENTICATED, and maps gRPC statuses to hashgate errors.
func (d *braiinsDriver) call(ctx context.Context, t Target, method string, req []byte) ([]byte, error) {
	addr := t.hostPort(DefaultPort(Braiins))
	d.mu.Lock()
	tok := d.tokens[addr]
	d.mu.Unlock()
	fresh := false
	for {
		if tok == "" {
			var err error
			if tok, err = d.login(ctx, t, addr); err != nil {
				return nil, err
			}
			fresh = true
			d.mu.Lock()
			d.tokens[addr] = tok
			d.mu.Unlock()
		}
		raw, err := d.invoke(ctx, addr, "braiins.bos.v1."+method, tok, req)
		var ge *grpcError
		if !errors.As(err, &ge) {
			return raw, err
		}
		switch {
		case ge.code == grpcUnauthenticated && !fresh:
			tok = ""
			continue
		case ge.code == grpcUnauthenticated:
			return nil, fmt.Errorf("%w: %w", ErrAuth, ge)
		case ge.code == grpcUnimplemented:
			return nil, fmt.Errorf("%w: %s: %w", ErrUnsupported, method, ge)
		case ge.code == grpcDeadline:
			return nil, fmt.Errorf("%w: %w", ErrTimeout, ge)
		}
		return nil, &CommandError{Firmware: Braiins, Command: method, Code: ge.code, Msg: ge.msg}
	}
}

func (d *braiinsDriver) Status(ctx context.Context, t Target) (Status, error) {
	var st Status
	raw, err := d.call(ctx, t, "MinerService/GetMinerStatus", nil)
	if err != nil {
		return st, err
	}
	var ms BraiinsMinerStatus
	if err := ms.UnmarshalProto(raw); err != nil {
		return st, protoErr(Braiins, "GetMinerStatus", err)
	}
	switch ms.Status {
	case BraiinsMinerNormal:
		st.State = StateRunning
	case BraiinsMinerPaused:
		st.State = StateSleeping
	}
	if raw, err = d.call(ctx, t, "MinerService/GetMinerStats", nil); err != nil {
		return st, err
	}
	var stats BraiinsMinerStats
	if err := stats.UnmarshalProto(raw); err != nil {
		return st, protoErr(Braiins, "GetMinerStats", err)
	}
	st.PowerW, st.HashrateTHs = float64(stats.PowerW), stats.GHs5s/1000
	st.Known |= FieldPower | FieldHashrate
	if raw, err = d.call(ctx, t, "PerformanceService/GetTunerState", nil); err != nil {
		return st, err
	}
	var ts BraiinsTunerState
	if err := ts.UnmarshalProto(raw); err != nil {
		return st, protoErr(Braiins, "GetTunerState", err)
	}
	if ts.HasTarget {
		st.PowerTargetW, st.Known = float64(ts.TargetW), st.Known|FieldPowerTarget
	}
	d.hardware(ctx, t, &st)
	return st, nil
}

// hardware merges the miner's hardware reading into st, reading it again
// when the kept one is older than hardwareTTL. A failed read leaves the
// fields unknown rather than failing the status the caller asked for.
func (d *braiinsDriver) hardware(ctx context.Context, t Target, st *Status) {
	addr := t.hostPort(DefaultPort(Braiins))
	now := d.cfg.Clock.Now()
	r, ok := d.hw.get(addr, now)
	if !ok {
		r = hwReading{at: now}
		var c BraiinsCoolingState
		var h BraiinsHashboards
		var det BraiinsMinerDetails
		if d.read(ctx, t, "CoolingService/GetCoolingState", &c) == nil &&
			d.read(ctx, t, "MinerService/GetHashboards", &h) == nil &&
			d.read(ctx, t, "MinerService/GetMinerDetails", &det) == nil {
			r.st = braiinsHardware(&c, &h, &det)
		}
		d.hw.put(addr, r)
	}
	mergeHardware(st, r, now)
}

// read calls a method without arguments and decodes its reply into m.
func (d *braiinsDriver) read(ctx context.Context, t Target, method string, m interface{ UnmarshalProto([]byte) error }) error {
	raw, err := d.call(ctx, t, method, nil)
	if err != nil {
		return err
	}
	if err := m.UnmarshalProto(raw); err != nil {
		return protoErr(Braiins, method, err)
	}
	return nil
}

func (d *braiinsDriver) Reboot(ctx context.Context, t Target) error {
	_, err := d.call(ctx, t, "ActionsService/Reboot", nil)
	d.hw.forget(t.hostPort(DefaultPort(Braiins)))
	return err
}

func (d *braiinsDriver) Locate(ctx context.Context, t Target, on bool) error {
	req := BraiinsLocate{Enabled: on}
	raw, err := d.call(ctx, t, "ActionsService/SetLocateDeviceStatus", req.MarshalProto())
	if err != nil {
		return err
	}
	var got BraiinsLocate
	if err := got.UnmarshalProto(raw); err != nil {
		return protoErr(Braiins, "SetLocateDeviceStatus", err)
	}
	if got.Enabled != on {
		return fmt.Errorf("%w: braiins locate is %t", ErrNotConfirmed, got.Enabled)
	}
	return nil
}

func (d *braiinsDriver) readStatus(t Target) func(context.Context) (Status, error) {
	return func(ctx context.Context) (Status, error) { return d.Status(ctx, t) }
}

func (d *braiinsDriver) action(ctx context.Context, t Target, method string) error {
	raw, err := d.call(ctx, t, method, nil)
	if err != nil {
		return err
	}
	var r BraiinsFlagResponse
	if err := r.UnmarshalProto(raw); err != nil {
		return protoErr(Braiins, method, err)
	}
	return nil
}

func (d *braiinsDriver) Sleep(ctx context.Context, t Target) error {
	if err := d.action(ctx, t, "ActionsService/PauseMining"); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "braiins pause", d.readStatus(t), isSleeping)
}

func (d *braiinsDriver) Wake(ctx context.Context, t Target) error {
	if err := d.action(ctx, t, "ActionsService/ResumeMining"); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "braiins resume", d.readStatus(t), isRunning)
}

func (d *braiinsDriver) SetPowerTarget(ctx context.Context, t Target, watts int) error {
	c, err := d.Capabilities(ctx, t)
	if err != nil {
		return err
	}
	if watts < c.MinW || watts > c.MaxW {
		return fmt.Errorf("%w: %d W outside [%d, %d]", ErrOutOfRange, watts, c.MinW, c.MaxW)
	}
	req := BraiinsSetPowerTargetRequest{SaveAction: BraiinsSaveActionSaveAndApply, Watt: uint64(watts)}
	raw, err := d.call(ctx, t, "PerformanceService/SetPowerTarget", req.MarshalProto())
	if err != nil {
		return err
	}
	var pr BraiinsPowerResponse
	if err := pr.UnmarshalProto(raw); err != nil {
		return protoErr(Braiins, "SetPowerTarget", err)
	}
	return confirm(ctx, d.cfg, "braiins power target", d.readStatus(t), func(s Status) bool {
		return s.Has(FieldPowerTarget) && s.PowerTargetW == float64(watts)
	})
}

func (d *braiinsDriver) Capabilities(ctx context.Context, t Target) (Capabilities, error) {
	raw, err := d.call(ctx, t, "ConfigurationService/GetConstraints", nil)
	if err != nil {
		return Capabilities{}, err
	}
	var bc BraiinsConstraints
	if err := bc.UnmarshalProto(raw); err != nil {
		return Capabilities{}, protoErr(Braiins, "GetConstraints", err)
	}
	return Capabilities{Sleep: true, PowerTarget: bc.MaxW > 0, MinW: int(bc.MinW), MaxW: int(bc.MaxW)}, nil
}
