package meter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

type simSource struct {
	base
	trace []TracePoint
}

func newSimSource(b base) (*simSource, error) {
	tr := b.cfg.Trace
	if b.cfg.TraceFile != "" {
		f, err := os.Open(b.cfg.TraceFile)
		if err != nil {
			return nil, &ConfigError{Meter: b.cfg.Name, Key: "trace_file", Msg: err.Error()}
		}
		defer f.Close()
		if tr, err = ReadTrace(f); err != nil {
			return nil, &ConfigError{Meter: b.cfg.Name, Key: "trace_file", Msg: err.Error()}
		}
	}
	if len(tr) == 0 {
		return nil, &ConfigError{Meter: b.cfg.Name, Key: "trace", Msg: "empty trace"}
	}
	return &simSource{base: b, trace: tr}, nil
}

// Run samples the trace every interval, starting at once: the value at elapsed time t is that
// of the last point whose offset is <= t (a step function). Before the first point nothing is
// sent. With loop set, elapsed time wraps at the last point's offset plus one interval.
// Without it, the last value holds.
func (s *simSource) Run(ctx context.Context, out chan<- Reading) error {
	start := s.clock.Now()
	period := s.trace[len(s.trace)-1].Offset.D() + s.cfg.Interval.D()
	for {
		now := s.clock.Now()
		elapsed := now.Sub(start)
		if s.cfg.Loop {
			elapsed %= period
		}
		if v, ok := stepValue(s.trace, elapsed); ok {
			s.emit(out, s.reading(v, now))
		}
		if !sleep(ctx, s.clock, s.cfg.Interval.D()) {
			return nil
		}
	}
}

// stepValue returns the value of the last point at or before t.
func stepValue(tr []TracePoint, t time.Duration) (float64, bool) {
	v, ok := 0.0, false
	for _, p := range tr {
		if p.Offset.D() > t {
			break
		}
		v, ok = p.Value, true
	}
	return v, ok
}

// maxTraceLines bounds a trace file.
const maxTraceLines = 100000

// ReadTrace parses a trace file: one "offset,value" per line, offset a Go duration ("90s") or
// seconds ("90"); blank lines, lines starting with '#' and a header line "offset,value" are
// skipped. Offsets must not decrease and values must be finite.
func ReadTrace(r io.Reader) ([]TracePoint, error) {
	var tr []TracePoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), 4096)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || (n == 1 && strings.HasPrefix(line, "offset")) {
			continue
		}
		if len(tr) >= maxTraceLines {
			return nil, fmt.Errorf("more than %d points", maxTraceLines)
		}
		off, val, ok := strings.Cut(line, ",")
		if !ok {
			return nil, fmt.Errorf("line %d: want offset,value", n)
		}
		off, val = strings.TrimSpace(off), strings.TrimSpace(val)
		d, err := time.ParseDuration(off)
		if err != nil {
			secs, err2 := strconv.ParseFloat(off, 64)
			if err2 != nil || !finite(secs) || secs < 0 || secs > 1e9 {
				return nil, fmt.Errorf("line %d: bad offset %q", n, off)
			}
			d = time.Duration(secs * float64(time.Second))
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad value %q", n, val)
		}
		tr = append(tr, TracePoint{Offset: Duration(d), Value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := validateTrace(tr, func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}); err != nil {
		return nil, err
	}
	return tr, nil
}
