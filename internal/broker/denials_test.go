package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDenialLogRateLimit checks that a flood of denials logs the burst in
// full at info and the rest as one summary counted by principal.
func TestDenialLogRateLimit(t *testing.T) {
	var buf bytes.Buffer
	d := newDenialLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour, 3)
	for range 1000 {
		d.denied("User:mallory", "operation", "WRITE", "resource", "t")
	}
	d.denied("User:eve", "operation", "READ", "resource", "t")
	d.flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d log lines, want 3 denials and a summary:\n%s", len(lines), buf.String())
	}
	for _, l := range lines[:3] {
		if !strings.Contains(l, "level=INFO") || !strings.Contains(l, `msg="request denied" principal=User:mallory operation=WRITE`) {
			t.Errorf("denial line %q", l)
		}
	}
	sum := lines[3]
	for _, want := range []string{"level=INFO", "suppressed=998", "principals=2", `by_principal="User:mallory=997 User:eve=1"`} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %s", sum, want)
		}
	}
	buf.Reset()
	d.flush()
	if buf.Len() != 0 {
		t.Errorf("a second flush logged %q", buf.String())
	}
}
