package tomltime

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDurationRoundTrip(t *testing.T) {
	var v struct {
		D Duration `toml:"d"`
	}
	if _, err := toml.Decode(`d = "1m30s"`, &v); err != nil || v.D.D() != 90*time.Second {
		t.Fatalf("decoded %v, %v", v.D, err)
	}
	b, _ := v.D.MarshalText()
	if string(b) != "1m30s" || v.D.String() != "1m30s" {
		t.Fatalf("encoded %s", b)
	}
	if _, err := toml.Decode(`d = "soon"`, &v); err == nil {
		t.Fatal("bad duration accepted")
	}
}
