package config

import (
	"strings"
	"testing"
)

// TestPoolURLUserinfoRefused: a [[pool]] url with user:password@ fails the load naming
// pool[i].url and pointing at the user/password keys, without echoing the password.
func TestPoolURLUserinfoRefused(t *testing.T) {
	text := `
[[listener]]
protocol = "sv1"
address = "0.0.0.0:3333"
[[pool]]
name = "a"
url = "stratum+tcp://a.example.com:3333"
user = "acct"
[[pool]]
name = "b"
url = "stratum+tcp://acct:s3cret@b.example.com:3333"
user = "acct"
`
	_, err := Parse(text)
	if err == nil || !strings.Contains(err.Error(), "pool[1].url") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("want an error naming pool[1].url and the password key, got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error repeats the password: %v", err)
	}
	if _, err := Parse(strings.Replace(text, "acct:s3cret@", "", 1)); err != nil {
		t.Fatalf("same config without userinfo: %v", err)
	}
}
