package broker

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// denialLog logs denied operations at info, as Kafka's authorizer logger
// does, without letting a client that retries a denied request flood the
// log: in each interval the first burst denials are logged in full, the
// rest only counted by principal, and one summary line reports the counts
// when the interval ends. Safe for concurrent use.
//
// (A general log rate limiter for bad input is being added to
// internal/server; the broker cannot import it, and denials are counted
// by principal rather than by remote address.)
type denialLog struct {
	logger   *slog.Logger
	interval time.Duration
	burst    int

	mu         sync.Mutex
	start      time.Time      // of the current interval
	logged     int            // denials logged in full in it
	suppressed map[string]int // by principal
	timer      *time.Timer    // pending summary
}

// Denials logged in full per interval, and the interval.
const (
	denialBurst    = 20
	denialInterval = 10 * time.Second
	// maxDenialPrincipals bounds the principals counted one by one; the
	// rest count as "other".
	maxDenialPrincipals = 1000
)

func newDenialLog(logger *slog.Logger, interval time.Duration, burst int) *denialLog {
	return &denialLog{logger: logger, interval: interval, burst: burst, suppressed: map[string]int{}}
}

// denied records that principal was denied; args are the denial's
// details, logged when the interval's burst is not spent.
func (d *denialLog) denied(principal string, args ...any) {
	now := time.Now()
	d.mu.Lock()
	if now.Sub(d.start) >= d.interval {
		d.start, d.logged = now, 0
	}
	if d.logged < d.burst {
		d.logged++
		d.mu.Unlock()
		d.logger.Info("request denied", append([]any{"principal", principal}, args...)...)
		return
	}
	if _, ok := d.suppressed[principal]; !ok && len(d.suppressed) >= maxDenialPrincipals {
		principal = "other"
	}
	d.suppressed[principal]++
	if d.timer == nil {
		d.timer = time.AfterFunc(d.start.Add(d.interval).Sub(now), d.flush)
	}
	d.mu.Unlock()
}

// flush logs the summary of the denials suppressed so far, if any.
func (d *denialLog) flush() {
	d.mu.Lock()
	counts := d.suppressed
	d.suppressed = map[string]int{}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	principals := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	total := 0
	var top []string
	for i, p := range principals {
		total += counts[p]
		if i < 10 {
			top = append(top, fmt.Sprintf("%s=%d", p, counts[p]))
		}
	}
	d.logger.Info("requests denied: further denials not logged", "suppressed", total,
		"principals", len(principals), "by_principal", strings.Join(top, " "), "interval", d.interval)
}
