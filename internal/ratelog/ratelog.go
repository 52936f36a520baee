// Package ratelog rate-limits log lines a remote party can cause (bad
// input, failed authentications, denied requests), so a flood of them
// cannot fill the disk: in each interval the first lines are logged in
// full, the rest only counted by a key (a remote host, a principal), and
// one summary line at the interval's end reports the counts.
package ratelog

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limiter is one rate limit with its summary line. It is safe for
// concurrent use; it runs a timer only while a summary is pending.
type Limiter struct {
	cfg Config

	mu         sync.Mutex
	start      time.Time      // of the current interval
	logged     int            // lines logged in full in it
	suppressed map[string]int // by key
	timer      *time.Timer    // pending summary
}

// Config configures a Limiter.
type Config struct {
	Logger   *slog.Logger // where the summary goes
	Level    slog.Level   // of every line
	Interval time.Duration
	Burst    int // lines logged in full per interval
	// Summary is the summary's message; KeyName names its counts
	// ("by_"+KeyName) and how many keys there were (KeyName+"s").
	Summary, KeyName string
}

// maxKeys bounds the keys counted one by one; the rest count as "other".
const maxKeys = 1000

// New returns a limiter.
func New(cfg Config) *Limiter { return &Limiter{cfg: cfg, suppressed: map[string]int{}} }

// Log logs msg with args to logger (the caller's, with its context) at
// the limiter's level, unless the interval's burst is spent; then it only
// counts it under key.
func (l *Limiter) Log(logger *slog.Logger, key, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.start) >= l.cfg.Interval {
		l.start, l.logged = now, 0
	}
	if l.logged < l.cfg.Burst {
		l.logged++
		l.mu.Unlock()
		logger.Log(context.Background(), l.cfg.Level, msg, args...)
		return
	}
	if _, ok := l.suppressed[key]; !ok && len(l.suppressed) >= maxKeys {
		key = "other"
	}
	l.suppressed[key]++
	if l.timer == nil {
		l.timer = time.AfterFunc(l.start.Add(l.cfg.Interval).Sub(now), l.Flush)
	}
	l.mu.Unlock()
}

// Flush logs the summary of the lines suppressed so far, if any: their
// number, how many keys, and the ten keys with the most.
func (l *Limiter) Flush() {
	l.mu.Lock()
	counts := l.suppressed
	l.suppressed = map[string]int{}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	total := 0
	var top []string
	for i, k := range keys {
		total += counts[k]
		if i < 10 {
			top = append(top, fmt.Sprintf("%s=%d", k, counts[k]))
		}
	}
	l.cfg.Logger.Log(context.Background(), l.cfg.Level, l.cfg.Summary, "suppressed", total,
		l.cfg.KeyName+"s", len(keys), "by_"+l.cfg.KeyName, strings.Join(top, " "), "interval", l.cfg.Interval)
}
