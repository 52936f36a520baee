package partition

import (
	"context"
	"math"
	"sync"
	"time"
)

// Quota is a byte rate shared by the replicas it throttles (Kafka's
// replication quotas, KIP-73): a token bucket holding at most a second of
// the rate. A read may take it into debt, so throttled reads average out
// to the rate; while it is in debt, throttled replicas read nothing. The
// zero rate, or math.MaxInt64, is no limit. It is safe for concurrent use.
// The log cleaner's throttle is one too (Wait).
type Quota struct {
	mu     sync.Mutex
	rate   int64
	tokens float64
	last   time.Time
	// changed is closed when the rate changes, so that waits in progress
	// end under the new rate rather than the one they began with.
	changed chan struct{}
}

// SetRate sets the rate in bytes per second.
func (q *Quota) SetRate(bytesPerSecond int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rate != bytesPerSecond {
		q.rate, q.tokens, q.last = bytesPerSecond, float64(bytesPerSecond), time.Time{}
		if q.changed != nil {
			close(q.changed)
			q.changed = nil
		}
	}
}

func (q *Quota) unlimited() bool { return q.rate <= 0 || q.rate == math.MaxInt64 }

// refill adds what the rate earned since the last call; q.mu is held.
func (q *Quota) refill(now time.Time) {
	if !q.last.IsZero() {
		q.tokens = min(float64(q.rate), q.tokens+now.Sub(q.last).Seconds()*float64(q.rate))
	}
	q.last = now
}

// Exceeded reports whether throttled replicas must wait: the bucket is in
// debt.
func (q *Quota) Exceeded(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unlimited() {
		return false
	}
	q.refill(now)
	return q.tokens <= 0
}

// Record takes n bytes a throttled replica read.
func (q *Quota) Record(n int64, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unlimited() || n == 0 {
		return
	}
	q.refill(now)
	q.tokens -= float64(n)
}

// ReadyAt returns when the bucket is out of debt (now if it is).
func (q *Quota) ReadyAt(now time.Time) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readyAt(now)
}

// readyAt is ReadyAt with q.mu held.
func (q *Quota) readyAt(now time.Time) time.Time {
	if q.unlimited() {
		return now
	}
	q.refill(now)
	if q.tokens > 0 {
		return now
	}
	return now.Add(time.Duration((-q.tokens + 1) / float64(q.rate) * float64(time.Second)))
}

// Wait takes n bytes and returns once the bucket is out of debt, or with
// ctx's error. A change of rate while it waits takes effect at once.
func (q *Quota) Wait(ctx context.Context, n int64) error {
	q.Record(n, time.Now())
	for {
		q.mu.Lock()
		now := time.Now()
		wait := q.readyAt(now).Sub(now)
		if wait <= 0 {
			q.mu.Unlock()
			return nil
		}
		if q.changed == nil {
			q.changed = make(chan struct{})
		}
		changed := q.changed
		q.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}
