package proxy

import (
	"sync"
	"time"
	"unicode/utf8"
)

// rejectLogEvery is how often one pool's rejects for one reason are logged: a reject storm
// costs a line per reason per minute, each saying how many were left out since the last.
const rejectLogEvery = time.Minute

// maxRejectReasons bounds the reasons remembered per pool: the reason text comes from the
// pool, and a pool that makes up a new reason for every share must not grow the map
// without end. Reasons past the bound share one entry.
const maxRejectReasons = 32

// maxReasonLen clips a pool's reason text in logs and as a key.
const maxReasonLen = 160

// otherReasons is the shared entry for reasons past maxRejectReasons.
const otherReasons = "\x00other"

// rejectLog decides which of a pool's rejects are logged. Safe for concurrent use.
type rejectLog struct {
	mu    sync.Mutex
	notes map[string]*rejectNote
}

type rejectNote struct {
	logged     time.Time
	suppressed uint64
}

// allow says whether a reject for reason is logged at now and, if so, how many rejects for
// it were left out since its last line. Left-out rejects are reported with the next line
// for the same reason. Reasons that differ only in their digits are one reason: pools put
// the share's difficulty or a job id in the text.
func (l *rejectLog) allow(now time.Time, reason string) (bool, uint64) {
	reason = reasonKey(reason)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.notes == nil {
		l.notes = make(map[string]*rejectNote)
	}
	n := l.notes[reason]
	// One entry stays free for otherReasons.
	if n == nil && reason != otherReasons && len(l.notes) >= maxRejectReasons-1 {
		// Forget reasons that have been quiet for an interval with nothing left to report.
		for k, v := range l.notes {
			if v.suppressed == 0 && now.Sub(v.logged) >= rejectLogEvery {
				delete(l.notes, k)
			}
		}
		if len(l.notes) >= maxRejectReasons-1 {
			reason = otherReasons
			n = l.notes[reason]
		}
	}
	if n == nil {
		l.notes[reason] = &rejectNote{logged: now}
		return true, 0
	}
	if now.Sub(n.logged) < rejectLogEvery {
		n.suppressed++
		return false, 0
	}
	left := n.suppressed
	n.logged, n.suppressed = now, 0
	return true, left
}

// clipReason cuts a pool's reason to maxReasonLen bytes on a rune boundary.
func clipReason(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	s = s[:maxReasonLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// reasonKey is reason with every number (digits, with a decimal point between them) replaced
// by one '#'.
func reasonKey(reason string) string {
	digit := func(i int) bool { return i >= 0 && i < len(reason) && reason[i] >= '0' && reason[i] <= '9' }
	numeric := func(i int) bool { return digit(i) || reason[i] == '.' && digit(i-1) && digit(i+1) }
	var b []byte
	for i := 0; i < len(reason); i++ {
		if !numeric(i) {
			if b != nil {
				b = append(b, reason[i])
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(reason)), reason[:i]...)
		}
		if i == 0 || !numeric(i-1) {
			b = append(b, '#')
		}
	}
	if b == nil {
		return reason
	}
	return string(b)
}
