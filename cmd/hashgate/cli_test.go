package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets a test run this binary as hashgate itself (HASHGATE_TEST_MAIN=1), so exit
// codes and what goes to stdout and stderr are checked as an operator's shell sees them.
func TestMain(m *testing.M) {
	if os.Getenv("HASHGATE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// hashgate runs this test binary as `hashgate args...` and returns its exit code and output.
func hashgate(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HASHGATE_TEST_MAIN=1")
	cmd.Stdin = strings.NewReader("")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("hashgate %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// TestHelpIsNotAnError: usage asked for is printed on stdout with exit 0, for hashgate and
// every subcommand; a wrong command line is exit 2 with the error on stderr.
func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"help"},
		{"run", "-h"}, {"check", "-h"}, {"demo", "-h"}, {"keygen", "-h"}, {"hash-password", "-h"},
		{"health", "-h"}, {"simulate", "-help"},
	} {
		code, out, errOut := hashgate(t, args...)
		if code != 0 || !strings.Contains(out, "usage") || errOut != "" {
			t.Errorf("hashgate %v: exit %d, stdout %q, stderr %q; want exit 0 and usage on stdout only", args, code, out, errOut)
		}
	}
	if _, out, _ := hashgate(t, "run", "-h"); !strings.Contains(out, "-log-level") || !strings.Contains(out, "-log-format") {
		t.Errorf("run -h does not list the log flags:\n%s", out)
	}
	if _, out, _ := hashgate(t, "demo", "-h"); !strings.Contains(out, "-miners") {
		t.Errorf("demo -h does not list its flags:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage:"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"check", "-x"}, "flag provided but not defined: -x"},
		{[]string{"run", "-log-level", "loud"}, `-log-level: "loud" is not debug, info, warn or error`},
		{[]string{"run", "-log-format", "xml"}, `-log-format: "xml" is not json or console`},
		{[]string{"keygen", "-valid-for", "soon"}, "invalid value"},
	} {
		code, out, errOut := hashgate(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("hashgate %v: exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestCheckCommandMessages: `hashgate check` on the operator's mistakes exits 1 with a message
// naming the key as written in the file.
func TestCheckCommandMessages(t *testing.T) {
	dir := t.TempDir()
	good := siteConfig(dir, "127.0.0.1:1", "127.0.0.1:0", "")
	for name, tc := range map[string]struct {
		text string
		want string
		not  string
	}{
		"misspelt table": {good + "[consol]\naddress = \"127.0.0.1:9\"\n", `unknown key "consol" (did you mean "console"?)`, "consol.address"},
		"bad address":    {strings.Replace(good, `address = "127.0.0.1:0"`+"\n", `address = "nowhere"`+"\n", 1), "console.address: ", "console.console"},
		"duration":       {good + "[policy]\nimport_limit_kw = 100\nrestore_interval = \"30\"\n", `policy.restore_interval: missing unit in duration "30"`, "time:"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := hashgate(t, "check", "-c", path)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, tc.not) || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q (without %q)", name, code, out, errOut, tc.want, tc.not)
		}
	}
	path := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := hashgate(t, "check", "-c", path); code != 0 || !strings.Contains(out, ": ok (1 listeners, 1 pools") {
		t.Errorf("good config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// lockedBuffer collects log lines written from the app's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runHashgate runs `hashgate run` with the flags on a config whose [log] says logConfig until
// until() holds for the log output, then stops it and returns the whole log.
func runHashgate(t *testing.T, logConfig string, until func(log string) bool, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "hashgate.toml")
	text := siteConfig(dir, freeAddr(t), "127.0.0.1:0", logConfig)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmdRun(ctx, append([]string{"-c", path}, flags...), &log) }()
	deadline := time.Now().Add(time.Minute)
	for !until(log.String()) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("hashgate run %v ended: %v\n%s", flags, err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("hashgate run %v: log never matched:\n%s", flags, log.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("hashgate run %v: %v", flags, err)
	}
	return log.String()
}

// TestRunLogFlags: -log-level and -log-format override [log] for the logger every part of
// the app writes to; without them [log] holds.
func TestRunLogFlags(t *testing.T) {
	// [log] says error; -log-level info brings back the store's and the command's info lines.
	log := runHashgate(t, "[log]\nlevel = \"error\"\nformat = \"console\"\n", func(l string) bool {
		return strings.Contains(l, `"message":"hashgate running"`) && strings.Contains(l, `"sub":"store"`)
	}, "-log-level", "info", "-log-format", "json")
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("-log-format json wrote a line that is not JSON: %q", line)
		}
	}
	// [log] says debug in JSON; the flags ask for warnings in the console form.
	log = runHashgate(t, "[log]\nlevel = \"debug\"\nformat = \"json\"\n", func(l string) bool {
		return strings.Contains(l, "pool connection lost")
	}, "-log-level", "warn", "-log-format", "console")
	if !strings.Contains(log, "WRN") || !strings.Contains(log, "sub=proxy") || strings.Contains(log, "INF") || strings.Contains(log, "{\"level\"") {
		t.Errorf("-log-level warn -log-format console: want only console-form warnings from the proxy, got:\n%s", log)
	}
	// Without flags, [log] holds: warn hides the info line.
	log = runHashgate(t, "[log]\nlevel = \"warn\"\nformat = \"json\"\n", func(l string) bool {
		return strings.Contains(l, "pool connection lost")
	})
	if strings.Contains(log, "hashgate running") || !strings.Contains(log, `"level":"warn"`) {
		t.Errorf("[log] level warn without flags: got:\n%s", log)
	}
}

// TestREADMEListsTheDemoFlags: every flag `hashgate demo -h` prints has its line in the README
// beside the demo command, and the README lists none the demo does not take.
func TestREADMEListsTheDemoFlags(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ := hashgate(t, "demo", "-h")
	flags := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  -") {
			flags[f[0]] = true
		}
	}
	if len(flags) < 5 {
		t.Fatalf("demo -h listed %d flags:\n%s", len(flags), out)
	}
	section := string(readme)
	start := strings.Index(section, "The demo's flags")
	if start < 0 {
		t.Fatal("README has no list of the demo's flags")
	}
	section = section[start:]
	list := strings.Index(section, "\n- ")
	if end := strings.Index(section[list:], "\n\n"); list >= 0 && end >= 0 {
		section = section[:list+end]
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if rest, ok := strings.CutPrefix(line, "- `"); ok {
			name, _, _ := strings.Cut(rest, "`")
			listed[name] = true
		}
	}
	for f := range flags {
		if !listed[f] {
			t.Errorf("README does not list the demo flag %s", f)
		}
	}
	for f := range listed {
		if !flags[f] {
			t.Errorf("README lists %s, which the demo does not take", f)
		}
	}
}
