package partition

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// TestQuota reads through a 1000 bytes/s quota on a simulated clock: the
// bytes let through over ten seconds come to the rate.
func TestQuota(t *testing.T) {
	var q Quota
	q.SetRate(1000)
	now := time.Unix(0, 0)
	read := int64(0)
	for range 1000 { // ten seconds in 10 ms steps
		if !q.Exceeded(now) {
			q.Record(300, now)
			read += 300
		}
		now = now.Add(10 * time.Millisecond)
	}
	if read < 9000 || read > 11300 {
		t.Fatalf("read %d bytes in 10 s at 1000 bytes/s", read)
	}
	q.Record(5000, now)
	if !q.Exceeded(now) || q.ReadyAt(now).Sub(now) < 4*time.Second {
		t.Fatalf("in debt by ~5000 bytes: exceeded %v, ready in %v", q.Exceeded(now), q.ReadyAt(now).Sub(now))
	}
	q.SetRate(math.MaxInt64)
	q.Record(1<<40, now)
	if q.Exceeded(now) || !q.ReadyAt(now).Equal(now) {
		t.Fatal("an unlimited quota throttles")
	}
}

// TestQuotaWait: an unlimited quota never holds a wait up; a wait in debt
// ends when its context does, or at once when the rate changes, not after
// the debt the old rate set.
func TestQuotaWait(t *testing.T) {
	var q Quota
	if err := q.Wait(context.Background(), 1<<40); err != nil {
		t.Fatalf("unlimited: got %v", err)
	}
	q.SetRate(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := func() <-chan error {
		done := make(chan error, 1)
		go func() { done <- q.Wait(ctx, 1000) }() // 1000 s in debt
		deadline := time.After(5 * time.Second)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			q.mu.Lock()
			blocked := q.changed != nil // made by the waiting Wait
			q.mu.Unlock()
			if blocked {
				return done
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatal("the wait never blocked")
			}
		}
	}
	done := waiting()
	q.SetRate(math.MaxInt64)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the rate changed: got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a wait outlived the rate it began under")
	}
	q.SetRate(1)
	done = waiting()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a wait outlived its context")
	}
}
