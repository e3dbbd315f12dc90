package firmware_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hashgate/hashgate/policy/firmware"
)

func TestRegistry(t *testing.T) {
	want := []string{"antminer", "bitaxe", "braiins", "luxos", "none", "vnish", "whatsminer"}
	if got := firmware.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v", got)
	}
	reg, err := firmware.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range want {
		d, err := reg.Driver(n)
		if err != nil || d.Firmware() != n {
			t.Fatalf("%s: %v", n, err)
		}
	}
	if _, err := firmware.New("cgminer", nil); !errors.Is(err, firmware.ErrUnknownFirmware) {
		t.Fatalf("unknown firmware: %v", err)
	}
	none, _ := reg.Driver(firmware.None)
	if err := none.Sleep(context.Background(), firmware.Target{}); !errors.Is(err, firmware.ErrUnsupported) {
		t.Fatalf("none.Sleep = %v", err)
	}
	bad := firmware.DefaultConfig()
	bad.LuxOSSessionIdle = 0
	if _, err := firmware.NewRegistry(bad); err == nil {
		t.Fatal("invalid config accepted")
	}
	for n, p := range map[string]int{"luxos": 4028, "whatsminer": 4028, "braiins": 50051, "bitaxe": 80, "vnish": 80, "antminer": 80} {
		if firmware.DefaultPort(n) != p {
			t.Fatalf("DefaultPort(%s) = %d", n, firmware.DefaultPort(n))
		}
	}
}
