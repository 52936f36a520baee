package partition

import (
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
