package testpeer

import (
	"net"
	"testing"
)

func TestMosquittoStartsStopsRestarts(t *testing.T) {
	m := NewMosquitto(t)
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatalf("dial running broker: %v", err)
	}
	c.Close()
	m.Stop()
	if c, err := net.Dial("tcp", m.Addr()); err == nil {
		c.Close()
		t.Fatal("stopped broker still accepts connections")
	}
	m.Start()
	c, err = net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatalf("dial restarted broker: %v", err)
	}
	c.Close()
}
