package cluster

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// waitFor polls cond until it holds; it fails the test only when the condition is still false
// after a bound far beyond anything the machine needs.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ticking calls f at once and then every d, with the time, until stop, which returns once f
// has made its last call.
func ticking(d time.Duration, f func(at time.Time)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(d)
		defer tk.Stop()
		at := time.Now()
		for {
			f(at)
			select {
			case <-done:
				return
			case at = <-tk.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// every is ticking until the test ends.
func every(t testing.TB, d time.Duration, f func(at time.Time)) { t.Cleanup(ticking(d, f)) }

// startNATS runs a real NATS server with JetStream on loopback, storing in dir; listen
// "127.0.0.1:0" picks a port.
func startNATS(t testing.TB, dir, listen string) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbedOptions{Name: "t", Listen: listen, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// publishUntil publishes body on subj every 20 ms until cond holds (the node may not have
// subscribed yet).
func publishUntil(t *testing.T, nc *nats.Conn, subj string, body []byte, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		_ = nc.Publish(subj, body)
		_ = nc.Flush()
		time.Sleep(20 * time.Millisecond)
		return cond()
	})
}
