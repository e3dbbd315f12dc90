package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hashgate/hashgate/proxy"
)

// proxyUnderTest is the proxy the fleet drives, wherever it runs.
type proxyUnderTest interface {
	// Addr is where V1 miners connect; AddrV2 where V2 miners do ("" : no V2 port).
	Addr() string
	// Addrs are the V1 addresses, one per fleet (Addr first).
	Addrs() []string
	AddrV2() string
	// Sample reads the proxy's CPU, memory and counters (whatever the mode can see); gc asks
	// for a collection first, for a settled memory figure.
	Sample(gc bool) (proxySample, error)
	// Profile starts (path != "") or stops (path == "") a CPU profile, where supported.
	Profile(path string) error
	// WriteProfile writes the proxy's "heap" or "goroutine" profile to path, where supported.
	WriteProfile(name, path string) error
	// Mode names how the proxy runs, for the report.
	Mode() string
	Close() error
}

// childProxy is the proxy in a child process: this binary re-executed in the proxy role.
type childProxy struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	addr  string
	extra []string
	addr2 string
	mu    sync.Mutex
}

func startChildProxy(cc childConfig) (*childProxy, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"=proxy")
	cmd.Stderr = os.Stderr
	// The child must not outlive a parent that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childProxy{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	c.out.Buffer(make([]byte, 64<<10), 4<<20)
	line, _ := json.Marshal(cc)
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		c.Close()
		return nil, err
	}
	if !c.out.Scan() {
		c.Close()
		return nil, errors.New("proxy child exited before announcing its address")
	}
	var h childHello
	if err := json.Unmarshal(c.out.Bytes(), &h); err != nil || h.Error != "" || h.Listen == "" || (cc.ServerKey != nil) != (h.ListenV2 != "") || len(h.ExtraListen) != len(cc.ExtraListen) {
		c.Close()
		return nil, fmt.Errorf("proxy child: %s%v", h.Error, err)
	}
	c.addr, c.extra, c.addr2 = h.Listen, h.ExtraListen, h.ListenV2
	return c, nil
}

func (c *childProxy) Addr() string    { return c.addr }
func (c *childProxy) AddrV2() string  { return c.addr2 }
func (c *childProxy) Addrs() []string { return append([]string{c.addr}, c.extra...) }
func (c *childProxy) Mode() string    { return fmt.Sprintf("child process (pid %d)", c.cmd.Process.Pid) }

func (c *childProxy) call(cmd childCommand) (proxySample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line, _ := json.Marshal(cmd)
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		return proxySample{}, err
	}
	if !c.out.Scan() {
		return proxySample{}, errors.New("proxy child stopped answering")
	}
	var s proxySample
	if err := json.Unmarshal(c.out.Bytes(), &s); err != nil {
		return s, err
	}
	if s.Error != "" {
		return s, errors.New(s.Error)
	}
	return s, nil
}

// Sample asks the child for its CPU time and runtime figures and reads its VmRSS from
// /proc/<pid>/status here, after the child has answered (so after its GC).
func (c *childProxy) Sample(gc bool) (proxySample, error) {
	s, err := c.call(childCommand{Op: "sample", GC: gc})
	if err != nil {
		return s, err
	}
	s.HasCPU, s.HasRuntime = true, true
	if s.Mem, err = readProcMemory(c.cmd.Process.Pid); err != nil {
		return s, err
	}
	s.HasMem = true
	return s, nil
}

func (c *childProxy) Profile(path string) error {
	op := "profile-stop"
	if path != "" {
		op = "profile-start"
	}
	_, err := c.call(childCommand{Op: op, Path: path})
	return err
}

func (c *childProxy) WriteProfile(name, path string) error {
	_, err := c.call(childCommand{Op: "write-profile", Name: name, Path: path})
	return err
}

// Close ends the child by closing its stdin, and kills it if it does not exit in time.
func (c *childProxy) Close() error {
	c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		return <-done
	}
}

// inprocProxy is the proxy in this process: its CPU and memory mix with the fleet's.
type inprocProxy struct {
	p     *proxy.Proxy
	hello childHello
}

func startInprocProxy(cc childConfig) (*inprocProxy, error) {
	p, err := proxy.New(proxyConfig(cc), proxy.Options{})
	if err != nil {
		return nil, err
	}
	p.Start(context.Background())
	h, err := listen(p, cc)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &inprocProxy{p: p, hello: h}, nil
}

func (i *inprocProxy) Addr() string   { return i.hello.Listen }
func (i *inprocProxy) AddrV2() string { return i.hello.ListenV2 }
func (i *inprocProxy) Addrs() []string {
	return append([]string{i.hello.Listen}, i.hello.ExtraListen...)
}
func (i *inprocProxy) Mode() string { return "in-process (CPU and memory shared with the fleet)" }

func (i *inprocProxy) Sample(gc bool) (proxySample, error) {
	var s proxySample
	runtimeSample(&s, gc)
	st := i.p.Status()
	s.Status = &st
	return s, nil
}

func (i *inprocProxy) Profile(string) error { return errors.New("profiling needs the child mode") }
func (i *inprocProxy) WriteProfile(string, string) error {
	return errors.New("profiling needs the child mode")
}
func (i *inprocProxy) Close() error { return i.p.Close() }

// externalProxy is a proxy someone else runs: only the fleet's and the pool's view exist.
type externalProxy struct{ addr string }

func (e externalProxy) Addr() string                     { return e.addr }
func (e externalProxy) AddrV2() string                   { return "" }
func (e externalProxy) Addrs() []string                  { return []string{e.addr} }
func (e externalProxy) Mode() string                     { return "external " + e.addr }
func (e externalProxy) Sample(bool) (proxySample, error) { return proxySample{}, nil }
func (e externalProxy) Profile(string) error             { return errors.New("profiling needs the child mode") }
func (e externalProxy) WriteProfile(string, string) error {
	return errors.New("profiling needs the child mode")
}
func (e externalProxy) Close() error { return nil }
