// Package testpeer starts the real external peers hashgate's tests talk to (an MQTT broker),
// each on a free loopback port with a generated config in the test's temporary directory.
//
// A missing peer makes the test skip, unless HASHGATE_REQUIRE_PEERS=1 is set (as
// scripts/test does), in which case the test fails: CI must never pass by skipping.
package testpeer
