package testpeer

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequirePeersEnv names the variable that turns a missing peer from a skip into a failure.
const RequirePeersEnv = "HASHGATE_REQUIRE_PEERS"

// readyTimeout bounds how long a broker may take to open its listener before the test fails.
const readyTimeout = 15 * time.Second

// MissingPeer skips t, or fails it when RequirePeersEnv=1.
func MissingPeer(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(RequirePeersEnv) == "1" {
		t.Fatalf("%s is required (%s=1) but not available", what, RequirePeersEnv)
	}
	t.Skipf("%s not available; set %s=1 to make this a failure", what, RequirePeersEnv)
}

// MosquittoPath returns the mosquitto binary (Debian installs it in /usr/sbin, outside most
// users' PATH).
func MosquittoPath() (string, bool) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// Mosquitto is a broker process owned by one test. Stop and Start let a test exercise
// reconnects; the broker keeps its port across restarts.
type Mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts a broker for t and returns its URL, tcp://127.0.0.1:<port>. The broker
// stops when the test ends.
func StartMosquitto(t testing.TB) string {
	t.Helper()
	return NewMosquitto(t).URL()
}

// NewMosquitto starts a broker for t and returns it running.
func NewMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	bin, ok := MosquittoPath()
	if !ok {
		MissingPeer(t, "mosquitto (Debian package mosquitto)")
	}
	m := &Mosquitto{t: t, bin: bin}
	var err error
	for range 3 { // a freshly freed port can be taken by someone else before mosquitto binds it
		if err = m.configure(); err != nil {
			break
		}
		if err = m.start(); err == nil {
			t.Cleanup(m.Stop)
			return m
		}
	}
	t.Fatalf("testpeer: mosquitto: %v", err)
	return nil
}

func (m *Mosquitto) configure() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	m.conf = filepath.Join(m.t.TempDir(), "mosquitto.conf")
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"+
		"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n", m.port)
	return os.WriteFile(m.conf, []byte(conf), 0o644)
}

// URL is the broker's address for MQTT clients.
func (m *Mosquitto) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

// Addr is host:port.
func (m *Mosquitto) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// Start restarts a stopped broker on the same port and waits until it listens.
func (m *Mosquitto) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		m.t.Fatalf("testpeer: mosquitto restart: %v", err)
	}
}

// start launches the process and waits for its "running" log line, which mosquitto prints
// after opening its listeners. The log goes to stderr because stdout is block-buffered on a
// pipe and would hold the line back.
func (m *Mosquitto) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return fmt.Errorf("already running")
	}
	cmd := exec.Command(m.bin, "-c", m.conf)
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	var logMu sync.Mutex
	var logLines []string
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logLines = append(logLines, line)
			logMu.Unlock()
			if !signalled && strings.Contains(line, " running") {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		m.cmd, m.done = cmd, done
		return nil
	case <-done:
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
	}
	logMu.Lock()
	defer logMu.Unlock()
	return fmt.Errorf("broker did not start on port %d:\n%s", m.port, strings.Join(logLines, "\n"))
}

// Stop kills the broker and waits for it to exit. It is idempotent.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd, m.done = nil, nil
}
