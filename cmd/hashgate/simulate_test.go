package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSimulate(t *testing.T) {
	var out bytes.Buffer
	if err := cmdSimulate([]string{"-scenario", "site_meter_only", "-seeds", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	rows := strings.Count(out.String(), "\n| ")
	if !strings.Contains(out.String(), "| site_meter_only | hashgate | 0.0 |") || !strings.Contains(out.String(), "| random_1 | baseline |") || rows != 4 {
		t.Fatalf("table:\n%s", out.String())
	}
	out.Reset()
	if err := cmdSimulate([]string{"-list"}, &out); err != nil || strings.Count(out.String(), "\n") < 12 {
		t.Fatalf("list (%v):\n%s", err, out.String())
	}
	if err := cmdSimulate([]string{"-scenario", "nope"}, &out); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}
