package app

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestWithheldFirmwareCallsReachMetrics: a miner that names a worker of a group with a login
// but connects from outside the group's networks still mines through hashgate (its shares
// reach the pool), its firmware port is never dialled, and the polls withheld from it are
// counted on /metrics as firmware_commands_total{result="withheld"}.
func TestWithheldFirmwareCallsReachMetrics(t *testing.T) {
	// The port the group would call at the miner's address: anything arriving there is a call
	// that carried the login.
	fwPort, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fwPort.Close()
	var dialled atomic.Int64
	go func() {
		for {
			c, err := fwPort.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			c.Close()
		}
	}()

	p := startPolicyAppWith(t, console.RoleAdmin, func(f *config.File) {
		f.Console.PublicMetrics = true
		f.Fleet = []policy.FleetGroup{{Name: "rack1", Pattern: "rack1.*", Firmware: policy.FirmwareVNish, RatedKW: 3.5, EfficiencyJTH: 17.5,
			Priority: 1, Port: fwPort.Addr().(*net.TCPAddr).Port, Password: "fleet-secret", Networks: []string{"10.77.0.0/16"}}}
		f.Power.TelemetryInterval = tomltime.Duration(time.Second)
	})
	a := p.a
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "rack1.rogue", HashRate: 50000})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	base := "http://" + a.ConsoleAddr.String()
	const series = `hashgate_firmware_commands_total{command="status",firmware="vnish",result="withheld"}`
	deadline := time.Now().Add(60 * time.Second)
	mining := func() bool {
		for _, id := range a.Proxy.Identities() {
			if id.Worker == "rack1.rogue" && !id.LastShare.IsZero() {
				return true
			}
		}
		return false
	}
	for scrape(t, base)[series] < 2 || !mining() {
		if time.Now().After(deadline) {
			var fw []string
			for k, v := range scrape(t, base) {
				if strings.Contains(k, "firmware_commands") {
					fw = append(fw, fmt.Sprint(k, " ", v))
				}
			}
			t.Fatalf("after 60 s: mining %v, firmware results on /metrics %v", mining(), fw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The operator sees why: the miner detail says the address is not vouched for, and a
	// reboot is refused in those words, with nothing sent.
	var detail struct {
		Hardware *console.MinerHardware `json:"hardware"`
	}
	if code := p.call("GET", "/api/v1/workers/rack1.rogue", "", &detail); code != 200 || detail.Hardware == nil ||
		detail.Hardware.Controllable || !detail.Hardware.Unvouched {
		t.Fatalf("miner detail: %d %+v", code, detail.Hardware)
	}
	var bulk struct {
		Failed  int
		Results []struct{ Error string }
	}
	if code := p.call("POST", "/api/v1/workers/bulk", `{"action":"reboot","workers":["rack1.rogue"]}`, &bulk); code != 200 ||
		bulk.Failed != 1 || len(bulk.Results) != 1 || !strings.HasPrefix(bulk.Results[0].Error, "credentials withheld: ") {
		t.Fatalf("bulk reboot: %d %+v", code, bulk)
	}
	if n := dialled.Load(); n != 0 {
		t.Fatalf("the firmware port at the miner's address was dialled %d times", n)
	}
}
