package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// ErrHeldGatesFull is returned by HeldGates.Publish once the file has reached MaxHeldGates:
// the list is not written and the new process keeps the last one that was.
var ErrHeldGatesFull = errors.New("upgrade: held-gates file full")

// MaxHeldGates bounds the held-gates file: a list of a million worker names, a few times over.
const MaxHeldGates = 256 << 20

// HeldGates carries the closed gates of an upgrading process to the new one, which serves
// miners before it has a power controller of its own. The old process decides until it exits
// (its controller and cluster node run through the drain), so it publishes the list each time
// it changes, until it has stopped deciding; the new process follows it until the old one is
// gone. Both hold the same file (an unlinked temporary passed with the sockets): each list is
// one JSON line appended with WriteAt, and a reader takes the last complete line, so a line
// being written is never read half.
type HeldGates struct {
	f *os.File

	mu   sync.Mutex
	end  int64    // where the next line goes (writer) or where reading resumes (reader)
	last []string // the last list written or read
}

// NewHeldGates uses f, positioned nowhere (reads and writes give their offset: the two
// processes share the descriptor's offset).
func NewHeldGates(f *os.File) *HeldGates { return &HeldGates{f: f} }

// Publish appends held (sorted) unless it is the list already published.
func (h *HeldGates) Publish(held []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.end > 0 && slices.Equal(held, h.last) {
		return nil
	}
	b, err := json.Marshal(held)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if h.end+int64(len(b)) > MaxHeldGates {
		return ErrHeldGatesFull
	}
	if _, err := h.f.WriteAt(b, h.end); err != nil {
		return fmt.Errorf("upgrade: held gates: %w", err)
	}
	h.end += int64(len(b))
	h.last = slices.Clone(held)
	return nil
}

// Read returns the list last published, and whether it differs from the one Read returned
// before.
func (h *HeldGates) Read() ([]string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := io.ReadAll(io.NewSectionReader(h.f, h.end, MaxHeldGates-h.end))
	if err != nil {
		return nil, false, fmt.Errorf("upgrade: held gates: %w", err)
	}
	nl := bytes.LastIndexByte(b, '\n')
	if nl < 0 {
		return h.last, false, nil // nothing new, or a line still being written
	}
	line := b[bytes.LastIndexByte(b[:nl], '\n')+1 : nl]
	var held []string
	if err := json.Unmarshal(line, &held); err != nil {
		return nil, false, fmt.Errorf("upgrade: held gates from the previous process: %w", err)
	}
	h.end += int64(nl + 1)
	changed := !slices.Equal(held, h.last)
	h.last = held
	return held, changed, nil
}

// Close closes the file.
func (h *HeldGates) Close() error { return h.f.Close() }
