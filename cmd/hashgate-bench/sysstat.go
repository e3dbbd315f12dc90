package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func durationNs(ns int64) time.Duration { return time.Duration(ns) }

// raiseNoFile lifts RLIMIT_NOFILE's soft limit to want and returns the soft limit in force.
// A hard limit below want is raised too where the process may (CAP_SYS_RESOURCE: a
// 50,000-miner fleet needs more descriptors than the usual 20,000 or 65,536 hard limit);
// otherwise the soft limit stops at the hard one.
func raiseNoFile(want uint64) (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur >= want {
		return r.Cur, nil
	}
	if r.Max < want {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want, nil
		}
	}
	r.Cur = min(want, r.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

// cpuTime is this process's user and system CPU time so far (all threads).
func cpuTime() (user, sys time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, err
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}

// procMemory is what /proc/<pid>/status says about a process's memory, in KiB.
type procMemory struct {
	RSS     uint64 `json:"vm_rss_kib"`   // resident now
	HWM     uint64 `json:"vm_hwm_kib"`   // peak resident
	Anon    uint64 `json:"rss_anon_kib"` // resident anonymous memory (heap, stacks)
	File    uint64 `json:"rss_file_kib"` // resident file mappings (the binary)
	Threads uint64 `json:"threads"`
}

var errNoRSS = errors.New("no VmRSS line")

// readProcMemory reads /proc/<pid>/status (pid 0: self).
func readProcMemory(pid int) (procMemory, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return procMemory{}, err
	}
	return parseProcStatus(b)
}

// parseProcStatus extracts the memory lines of a /proc/<pid>/status file.
func parseProcStatus(b []byte) (procMemory, error) {
	var m procMemory
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "VmRSS":
			dst, seen = &m.RSS, true
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		case "Threads":
			dst = &m.Threads
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			return m, fmt.Errorf("/proc status: empty %s", key)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc status: %s: %w", key, err)
		}
		*dst = n
	}
	if !seen {
		return m, errNoRSS
	}
	return m, sc.Err()
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
