package cluster

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConsoleURLKey: console_url must be an http(s) URL; a wrong one names the key.
func TestConsoleURLKey(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"", true}, {"https://hall-a.example:8080", true}, {"http://10.0.0.5:8080/", true},
		{"hall-a:8080", false}, {"ftp://hall-a", false}, {"https://", false}, {"https://x/" + strings.Repeat("a", 600), false},
	} {
		cfg := DefaultConfig()
		cfg.Site, cfg.NATSURL, cfg.ConsoleURL = "s1", "nats://127.0.0.1:4222", c.url
		err := cfg.Validate()
		var ce *ConfigError
		if c.ok != (err == nil) || (err != nil && (!errors.As(err, &ce) || ce.Key != "console_url")) {
			t.Errorf("console_url %q: %v", c.url, err)
		}
	}
}

// TestDeskMessagesRefused: cards and operator requests a peer got wrong are refused whole.
func TestDeskMessagesRefused(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	good := Card{Instance: "hall-a", Role: RoleLeader, Epoch: 3, Healthy: true, Workers: 2, Paused: 1, At: at}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Card{
		"instance":   {Instance: "hall a", At: at},
		"role":       {Instance: "hall-a", Role: 7, At: at},
		"paused":     {Instance: "hall-a", Workers: 1, Paused: 2, At: at},
		"negative":   {Instance: "hall-a", Workers: -1, At: at},
		"no time":    {Instance: "hall-a"},
		"long url":   {Instance: "hall-a", ConsoleURL: strings.Repeat("u", 513), At: at},
		"long error": {Instance: "hall-a", Health: strings.Repeat("h", 513), At: at},
	} {
		if err := c.Validate(); !errors.Is(err, ErrBadMessage) {
			t.Errorf("card %s: %v", name, err)
		}
	}
	many := make([]string, MaxOpWorkers+1)
	for i := range many {
		many[i] = "w" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	for name, op := range map[string]Op{
		"action":     {Action: "reboot", Actor: "user:a", Workers: []string{"w"}},
		"actor":      {Action: OpPause, Workers: []string{"w"}},
		"long actor": {Action: OpPause, Actor: strings.Repeat("a", 257), Workers: []string{"w"}},
		"none":       {Action: OpPause, Actor: "user:a"},
		"too many":   {Action: OpPause, Actor: "user:a", Workers: many},
		"twice":      {Action: OpResume, Actor: "user:a", Workers: []string{"w", "w"}},
		"empty":      {Action: OpResume, Actor: "user:a", Workers: []string{""}},
		"long name":  {Action: OpResume, Actor: "user:a", Workers: []string{strings.Repeat("w", 257)}},
	} {
		b, _ := jsonOf(op)
		var back Op
		if err := decode(b, &back); !errors.Is(err, ErrBadMessage) {
			t.Errorf("op %s: %v", name, err)
		}
	}
	var back Op
	if err := decode([]byte(`{"action":"pause","actor":"user:a","workers":["w"]}{}`), &back); !errors.Is(err, ErrBadMessage) {
		t.Errorf("trailing data: %v", err)
	}
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }
