package proxy

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckWorkerName(t *testing.T) {
	for _, ok := range []string{"rack1.s21-07", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.bitaxe", "user+tag@site:~/a#1=2,3",
		strings.Repeat("a", MaxWorkerName), "A_b.C-9"} {
		if err := checkWorkerName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for name, want := range map[string]string{
		"":                                     "empty",
		strings.Repeat("a", MaxWorkerName+1):   "longer than 128 bytes (129)",
		strings.Repeat("a", 65480):             "longer than 128 bytes (65480)",
		"rack1.m\n01":                          "byte 7 (0x0a)",
		"rack1\x00":                            "byte 5 (0x00)",
		"rack 1":                               "byte 4 (0x20)",
		"r\tk":                                 "byte 1 (0x09)",
		"\x1b[2J":                              "byte 0 (0x1b)",
		"rack1.m\u00e9":                        "byte 7 (0xc3)",
		"\xff":                                 "byte 0 (0xff)",
		`rack"1`:                               "byte 4 (0x22)",
		`rack\1`:                               "byte 4 (0x5c)",
		"rack*":                                "byte 4 (0x2a)",
		"rack1.m01" + strings.Repeat(" ", 200): "longer than",
	} {
		err := checkWorkerName(name)
		var we *WorkerNameError
		if !errors.As(err, &we) || !strings.HasPrefix(err.Error(), "invalid worker name: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: got %v, want %q", name, err, want)
		}
	}
}

func TestLoggableName(t *testing.T) {
	if got := loggableName("rack1.m\n01"); got != `"rack1.m\n01"` {
		t.Errorf("short name: %s", got)
	}
	long := loggableName(strings.Repeat("\x00", 65480))
	if len(long) > 6*maxLoggedName+8 || !strings.HasSuffix(long, "...") || strings.ContainsRune(long, 0) {
		t.Errorf("long name logged as %d bytes: %.80s", len(long), long)
	}
	if got := loggableName("m\u00e9\xff"); got != `"m\u00e9\xff"` {
		t.Errorf("non-ASCII name: %s", got)
	}
}
