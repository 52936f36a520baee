package server

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// LogLimiter rate-limits warnings about bad input from the network, so a
// flood of bad connections cannot fill the disk: in each interval the
// first Burst lines are logged in full, the rest only counted by remote
// address, and one summary line at the interval's end reports the counts.
// The SASL work uses it for failed authentications too. Safe for
// concurrent use; it starts a goroutine only while a summary is pending.
type LogLimiter struct {
	logger   *slog.Logger
	interval time.Duration
	burst    int

	mu         sync.Mutex
	start      time.Time      // of the current interval
	logged     int            // lines logged in full in it
	suppressed map[string]int // by remote host
	total      int
	timer      *time.Timer // pending summary
}

// maxSuppressedHosts bounds the hosts counted one by one; the rest count
// as "other".
const maxSuppressedHosts = 1000

// NewLogLimiter returns a limiter that logs the summaries to logger.
func NewLogLimiter(logger *slog.Logger, interval time.Duration, burst int) *LogLimiter {
	return &LogLimiter{logger: logger, interval: interval, burst: burst, suppressed: map[string]int{}}
}

// Warn logs msg with args to logger (a connection's logger), unless the
// interval's burst is spent; then it only counts it for remote.
func (l *LogLimiter) Warn(logger *slog.Logger, remote net.Addr, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.start) >= l.interval {
		l.start, l.logged = now, 0
	}
	if l.logged < l.burst {
		l.logged++
		l.mu.Unlock()
		logger.Warn(msg, args...)
		return
	}
	host := hostOf(remote)
	if _, ok := l.suppressed[host]; !ok && len(l.suppressed) >= maxSuppressedHosts {
		host = "other"
	}
	l.suppressed[host]++
	l.total++
	if l.timer == nil {
		l.timer = time.AfterFunc(l.start.Add(l.interval).Sub(now), l.Flush)
	}
	l.mu.Unlock()
}

// Flush logs the summary of the lines suppressed so far, if any.
func (l *LogLimiter) Flush() {
	l.mu.Lock()
	counts, total := l.suppressed, l.total
	l.suppressed, l.total = map[string]int{}, 0
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	if total == 0 {
		return
	}
	hosts := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	var top []string
	for _, h := range hosts[:min(len(hosts), 10)] {
		top = append(top, fmt.Sprintf("%s=%d", h, counts[h]))
	}
	l.logger.Warn("bad input: further warnings suppressed", "suppressed", total, "hosts", len(hosts),
		"by_remote", strings.Join(top, " "), "interval", l.interval)
}

// hostOf is the IP of a TCP address, or the address's string.
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	if a == nil {
		return ""
	}
	return a.String()
}
