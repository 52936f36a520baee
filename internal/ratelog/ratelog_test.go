package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLimiter checks that a flood logs the burst in full at the level set
// and the rest as one summary counted by key.
func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	d := New(Config{Logger: logger, Level: slog.LevelInfo, Interval: time.Hour, Burst: 3,
		Summary: "requests denied: further denials not logged", KeyName: "principal"})
	denied := func(p string, args ...any) {
		d.Log(logger, p, "request denied", append([]any{"principal", p}, args...)...)
	}
	for range 1000 {
		denied("User:mallory", "operation", "WRITE", "resource", "t")
	}
	denied("User:eve", "operation", "READ", "resource", "t")
	d.Flush()
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
	d.Flush()
	if buf.Len() != 0 {
		t.Errorf("a second flush logged %q", buf.String())
	}
}
