package meter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
)

// Shape is the payload layout a simulated MQTT meter publishes.
type Shape string

// Payload shapes.
const (
	ShapeNumber       Shape = "number"        // `1234.5` (Shelly Gen1 emeter/N/power, Home Assistant states)
	ShapeShellyEM     Shape = "shelly_em"     // <prefix>/status/em:0: {"id":0,...,"total_act_power":W}
	ShapeShellyEM1    Shape = "shelly_em1"    // <prefix>/status/em1:0: {"id":0,"act_power":W,...}
	ShapeShellySwitch Shape = "shelly_switch" // <prefix>/status/switch:0: {"id":0,"output":true,"apower":W,...}
	ShapeShellyNotify Shape = "shelly_notify" // <prefix>/events/rpc: NotifyStatus with params.ts and em:0
	ShapeTasmota      Shape = "tasmota"       // tele/<topic>/SENSOR: {"Time":...,"ENERGY":{"Power":W,...}}
)

// Shapes lists every shape, for table tests.
var Shapes = []Shape{ShapeNumber, ShapeShellyEM, ShapeShellyEM1, ShapeShellySwitch, ShapeShellyNotify, ShapeTasmota}

type shellyEM struct {
	ID            int     `json:"id"`
	ACurrent      float64 `json:"a_current"`
	AVoltage      float64 `json:"a_voltage"`
	AActPower     float64 `json:"a_act_power"`
	BActPower     float64 `json:"b_act_power"`
	CActPower     float64 `json:"c_act_power"`
	TotalCurrent  float64 `json:"total_current"`
	TotalActPower float64 `json:"total_act_power"`
	TotalAprtPow  float64 `json:"total_aprt_power"`
}

type shellyEM1 struct {
	ID       int     `json:"id"`
	Current  float64 `json:"current"`
	Voltage  float64 `json:"voltage"`
	ActPower float64 `json:"act_power"`
	Freq     float64 `json:"freq"`
}

type shellySwitch struct {
	ID      int     `json:"id"`
	Source  string  `json:"source"`
	Output  bool    `json:"output"`
	APower  float64 `json:"apower"`
	Voltage float64 `json:"voltage"`
}

type shellyNotify struct {
	Src    string       `json:"src"`
	Dst    string       `json:"dst"`
	Method string       `json:"method"`
	Params notifyParams `json:"params"`
}

type notifyParams struct {
	TS float64  `json:"ts"`
	EM shellyEM `json:"em:0"`
}

type tasmotaSensor struct {
	Time   string        `json:"Time"`
	Energy tasmotaEnergy `json:"ENERGY"`
}

type tasmotaEnergy struct {
	Total   float64 `json:"Total"`
	Power   float64 `json:"Power"`
	Voltage float64 `json:"Voltage"`
	Current float64 `json:"Current"`
}

// EncodePayload renders a power reading of watts, taken at at, in the given shape.
func EncodePayload(shape Shape, watts float64, at time.Time) ([]byte, error) {
	if math.IsNaN(watts) || math.IsInf(watts, 0) {
		return nil, fmt.Errorf("sim/meter: %v W cannot be encoded", watts)
	}
	switch shape {
	case ShapeNumber:
		return json.Marshal(watts)
	case ShapeShellyEM:
		return json.Marshal(shellyEM{TotalActPower: watts, AActPower: watts / 3, BActPower: watts / 3, CActPower: watts / 3, AVoltage: 230})
	case ShapeShellyEM1:
		return json.Marshal(shellyEM1{ActPower: watts, Voltage: 230, Freq: 50})
	case ShapeShellySwitch:
		return json.Marshal(shellySwitch{Source: "init", Output: true, APower: watts, Voltage: 230})
	case ShapeShellyNotify:
		ts := float64(at.UnixMilli()) / 1000
		return json.Marshal(shellyNotify{Src: "shellypro3em-sim", Dst: "shellypro3em-sim/events", Method: "NotifyStatus",
			Params: notifyParams{TS: ts, EM: shellyEM{TotalActPower: watts}}})
	case ShapeTasmota:
		return json.Marshal(tasmotaSensor{Time: at.Format("2006-01-02T15:04:05"), Energy: tasmotaEnergy{Power: watts, Voltage: 230}})
	}
	return nil, fmt.Errorf("sim/meter: unknown shape %q", shape)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Broker   string // tcp://host:port
	ClientID string // default "hashgate-sim-meter"
	Timeout  time.Duration
	Logger   zerolog.Logger
}

// Publisher publishes simulated meter readings to a real MQTT broker.
type Publisher struct {
	cfg    PublisherConfig
	client mqtt.Client
}

// ErrTimeout is returned when the broker does not confirm within the configured timeout.
var ErrTimeout = errors.New("sim/meter: broker did not answer in time")

// NewPublisher connects to the broker.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.ClientID == "" {
		cfg.ClientID = "hashgate-sim-meter"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	opts := mqtt.NewClientOptions().AddBroker(cfg.Broker).SetClientID(cfg.ClientID).
		SetAutoReconnect(true).SetConnectRetry(false).SetConnectTimeout(cfg.Timeout).
		SetMaxReconnectInterval(time.Second)
	c := mqtt.NewClient(opts)
	if err := wait(c.Connect(), cfg.Timeout); err != nil {
		return nil, fmt.Errorf("sim/meter: connect %s: %w", cfg.Broker, err)
	}
	return &Publisher{cfg: cfg, client: c}, nil
}

func wait(t mqtt.Token, d time.Duration) error {
	if !t.WaitTimeout(d) {
		return ErrTimeout
	}
	return t.Error()
}

// Publish sends watts in the given shape on topic with QoS 1 and waits for the broker's ack.
func (p *Publisher) Publish(topic string, shape Shape, watts float64) error {
	payload, err := EncodePayload(shape, watts, time.Now())
	if err != nil {
		return err
	}
	return p.PublishRaw(topic, payload)
}

// PublishRaw sends an arbitrary payload, for garbage tests.
func (p *Publisher) PublishRaw(topic string, payload []byte) error {
	return wait(p.client.Publish(topic, 1, false, payload), p.cfg.Timeout)
}

// Close disconnects.
func (p *Publisher) Close() { p.client.Disconnect(250) }
