package firmware

import (
	"context"
	"fmt"
	"net/http"
)

// bitaxeDriver speaks ESP-Miner's REST API (Bitaxe, NerdQAxe), port 80,
// as described by ESP-Miner's main/http_server/openapi.yaml.
//
// What it can do:
//   - Sleep: POST /api/system/pause (ESP-Miner 2026+): Vcore to 0 and the
//     ASIC held in reset; read back as miningPaused in /api/system/info.
//   - Wake: POST /api/system/resume.
//   - SetPowerTarget: unsupported. ESP-Miner has no watt target, only
//     frequency/voltage through PATCH /api/system, which needs a restart
//     to take effect and does not map to watts.
//   - Reboot: POST /api/system/restart.
//   - Locate: unsupported; the board has no locate LED in the API.
//   - Hardware: /api/system/info's temp (ASIC, as the chip temperature),
//     vrTemp (voltage regulator, as the board temperature), fanrpm and
//     uptimeSeconds, each only when the reply carries it.
//
// Auth: none; the firmware only checks that the client is on a private
// network (401 otherwise), reported as ErrAuth. Older firmware without the
// pause endpoint answers 404, reported as ErrUnsupported.
type bitaxeDriver struct {
	cfg  *Config
	http *http.Client
}

func newBitaxe(cfg *Config) Driver { return &bitaxeDriver{cfg: cfg, http: newHTTPClient(cfg)} }

func (d *bitaxeDriver) Firmware() string { return Bitaxe }

// BitaxeInfo is the part of GET /api/system/info hashgate reads.
type BitaxeInfo struct {
	Power        float64 `json:"power"`
	HashRate     float64 `json:"hashRate"` // GH/s
	MaxPower     float64 `json:"maxPower"`
	Frequency    float64 `json:"frequency"`
	CoreVoltage  float64 `json:"coreVoltage"`
	MiningPaused bool    `json:"miningPaused"`
	Hostname     string  `json:"hostname"`
	// Hardware fields are pointers: older firmware lacks some of them.
	Temp          *float64 `json:"temp,omitempty"`
	VRTemp        *float64 `json:"vrTemp,omitempty"`
	FanRPM        *float64 `json:"fanrpm,omitempty"`
	UptimeSeconds *int64   `json:"uptimeSeconds,omitempty"`
}

// BitaxeMessage is ESP-Miner's GenericResponse.
type BitaxeMessage struct {
	Message string `json:"message"`
}

func (d *bitaxeDriver) url(t Target, path string) string {
	return "http://" + t.hostPort(DefaultPort(Bitaxe)) + path
}

func (d *bitaxeDriver) info(ctx context.Context, t Target) (BitaxeInfo, error) {
	var in BitaxeInfo
	r, err := httpDo(ctx, d.cfg, d.http, http.MethodGet, d.url(t, "/api/system/info"), nil, nil)
	if err != nil {
		return in, err
	}
	if r.Code != http.StatusOK {
		return in, httpRefusal(Bitaxe, "info", r)
	}
	return in, decodeJSON(Bitaxe, "info", r.Body, &in)
}

func (d *bitaxeDriver) Status(ctx context.Context, t Target) (Status, error) {
	in, err := d.info(ctx, t)
	if err != nil {
		return Status{}, err
	}
	st := Status{State: StateRunning, PowerW: in.Power, HashrateTHs: in.HashRate / 1000, Known: FieldPower | FieldHashrate}
	if in.MiningPaused {
		st.State = StateSleeping
	}
	if in.Temp != nil {
		st.ChipTempC, st.Known = *in.Temp, st.Known|FieldChipTemp
	}
	if in.VRTemp != nil {
		st.BoardTempC, st.Known = *in.VRTemp, st.Known|FieldBoardTemp
	}
	if in.FanRPM != nil {
		st.AddFan(*in.FanRPM)
	}
	if in.UptimeSeconds != nil {
		st.UptimeS, st.Known = *in.UptimeSeconds, st.Known|FieldUptime
	}
	return st, nil
}

// Reboot asks ESP-Miner to restart; it answers before restarting, with a
// body that is not JSON on some releases, so only the status is checked.
func (d *bitaxeDriver) Reboot(ctx context.Context, t Target) error {
	r, err := httpDo(ctx, d.cfg, d.http, http.MethodPost, d.url(t, "/api/system/restart"), nil, nil)
	if err != nil {
		return err
	}
	if r.Code != http.StatusOK {
		return httpRefusal(Bitaxe, "restart", r)
	}
	return nil
}

func (d *bitaxeDriver) Locate(context.Context, Target, bool) error {
	return fmt.Errorf("%w: ESP-Miner has no locate LED", ErrUnsupported)
}

func (d *bitaxeDriver) post(ctx context.Context, t Target, path string) error {
	r, err := httpDo(ctx, d.cfg, d.http, http.MethodPost, d.url(t, path), nil, nil)
	if err != nil {
		return err
	}
	switch {
	case r.Code == http.StatusNotFound:
		return fmt.Errorf("%w: %s (firmware predates pause/resume)", ErrUnsupported, path)
	case r.Code != http.StatusOK:
		return httpRefusal(Bitaxe, path, r)
	}
	var m BitaxeMessage
	return decodeJSON(Bitaxe, path, r.Body, &m)
}

func (d *bitaxeDriver) readStatus(t Target) func(context.Context) (Status, error) {
	return func(ctx context.Context) (Status, error) { return d.Status(ctx, t) }
}

func (d *bitaxeDriver) Sleep(ctx context.Context, t Target) error {
	if err := d.post(ctx, t, "/api/system/pause"); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "bitaxe pause", d.readStatus(t), isSleeping)
}

func (d *bitaxeDriver) Wake(ctx context.Context, t Target) error {
	if err := d.post(ctx, t, "/api/system/resume"); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "bitaxe resume", d.readStatus(t), isRunning)
}

func (d *bitaxeDriver) SetPowerTarget(context.Context, Target, int) error {
	return fmt.Errorf("%w: ESP-Miner has no power target", ErrUnsupported)
}

func (d *bitaxeDriver) Capabilities(context.Context, Target) (Capabilities, error) {
	return Capabilities{Sleep: true}, nil
}
