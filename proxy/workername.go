package proxy

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// MaxWorkerName is the longest worker name hashgate takes from a miner, in bytes (a V1
// mining.authorize username, an SV2 channel's user_identity). With passthrough names it goes
// upstream as "<pool user>.<name>" in an authorize and in every submit, and pools cap a line
// (ckpool's connector drops a connection over 1 KiB): one unchecked name cost every miner on
// the upstream session their work. 128 bytes holds any address-style name (a 62-character
// bech32m address, a dot, a rack and serial) with room to spare.
const MaxWorkerName = 128

// workerNameChars are the bytes a worker name may hold: ASCII letters and digits and
// . _ - @ + : ~ / # = , — what pools' user.worker names use, and nothing a log line, a
// Prometheus label, a [[fleet]] pattern or a pool's parser treats specially (no whitespace,
// control bytes, quotes, backslashes, glob characters or non-ASCII).
const workerNameChars = "._-@+:~/#=,"

var workerNameOK = func() (ok [256]bool) {
	for c := '0'; c <= '9'; c++ {
		ok[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		ok[c], ok[c-'a'+'A'] = true, true
	}
	for i := range len(workerNameChars) {
		ok[workerNameChars[i]] = true
	}
	return ok
}()

// WorkerNameError says why a miner's worker name was refused; the text goes to the miner.
type WorkerNameError struct {
	Reason string
}

func (e *WorkerNameError) Error() string { return "invalid worker name: " + e.Reason }

// checkWorkerName vets a name before it reaches a pool, a log line, the console or the store.
// The worker field of a V1 mining.submit is not checked because it is never used: a share
// counts, and goes upstream, under the name its connection authorized.
func checkWorkerName(name string) error {
	switch {
	case name == "":
		return &WorkerNameError{"empty"}
	case len(name) > MaxWorkerName:
		return &WorkerNameError{"longer than " + strconv.Itoa(MaxWorkerName) + " bytes (" + strconv.Itoa(len(name)) + ")"}
	}
	for i := range len(name) {
		if !workerNameOK[name[i]] {
			return &WorkerNameError{"byte " + strconv.Itoa(i) + " (0x" + hex.EncodeToString([]byte{name[i]}) +
				") is not a letter, a digit or one of " + workerNameChars}
		}
	}
	return nil
}

// maxLoggedName bounds how much of a refused name a log line carries.
const maxLoggedName = 64

// loggableName is a refused name as a log line may carry it: its first bytes, quoted as
// ASCII, marked when cut.
func loggableName(name string) string {
	if len(name) <= maxLoggedName {
		return strconv.QuoteToASCII(name)
	}
	var b strings.Builder
	b.WriteString(strconv.QuoteToASCII(name[:maxLoggedName]))
	b.WriteString("...")
	return b.String()
}
