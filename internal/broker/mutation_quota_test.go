package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMutationQuotaTokenBucket steps Kafka's token bucket semantics on a
// fake clock: a rate of 2 partitions per second with a burst of 10. A
// strict quota throttles only an answer that refused something (Kafka's
// StrictControllerMutationQuota notes a throttle only on a violation); a
// permissive one every answer that left the bucket below zero.
func TestMutationQuotaTokenBucket(t *testing.T) {
	type step struct {
		after    time.Duration // clock advance before the step
		n        int           // partitions recorded
		wantErr  bool          // THROTTLING_QUOTA_EXCEEDED
		throttle int32         // the answer's throttle_time_ms after the step
	}
	tests := []struct {
		name   string
		strict bool
		steps  []step
	}{
		{"strict", true, []step{
			{n: 8},                                // 10 -> 2
			{n: 5},                                // 2 -> -3: done, as the bucket was not below zero, and not throttled
			{n: 1, wantErr: true, throttle: 1500}, // below zero: refused, nothing taken
			{after: time.Second, n: 1, wantErr: true, throttle: 500},
			{after: 500 * time.Millisecond, n: 1}, // refilled to 0: done, 0 -> -1
			{after: time.Minute, n: 10},           // refills only to the burst: 10 -> 0
			{n: 1},                                // 0 is not below zero: 0 -> -1
		}},
		{"permissive", false, []step{
			{n: 8},
			{n: 5, throttle: 1500}, // 2 -> -3
			{n: 1, throttle: 2000}, // done all the same: -4
			{after: time.Second, n: 0, throttle: 1000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			tb := &tokenBucket{}
			for i, s := range tt.steps {
				now = now.Add(s.after)
				// A new quota per request, sharing the entity's bucket.
				q := &mutationQuota{tb: tb, rate: 2, burst: 10, strict: tt.strict, now: func() time.Time { return now }}
				err := q.record(s.n)
				if gotErr := errors.Is(err, kerr.ThrottlingQuotaExceeded); gotErr != s.wantErr || (err != nil && !gotErr) {
					t.Fatalf("step %d: got error %v, want THROTTLING_QUOTA_EXCEEDED %v", i, err, s.wantErr)
				}
				resp := kmsg.NewPtrCreateTopicsResponse()
				q.apply(resp)
				if resp.ThrottleMillis != s.throttle {
					t.Fatalf("step %d: got throttle_time_ms %d, want %d", i, resp.ThrottleMillis, s.throttle)
				}
			}
		})
	}
}

// TestMutationQuotaUnlimited checks that without a quota nothing is
// refused or throttled.
func TestMutationQuotaUnlimited(t *testing.T) {
	q := &mutationQuota{strict: true}
	if q.limited() {
		t.Fatal("limited without a bucket")
	}
	if err := q.record(1 << 20); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	resp := kmsg.NewPtrDeleteTopicsResponse()
	q.apply(resp)
	if resp.ThrottleMillis != 0 {
		t.Fatalf("got throttle %d, want 0", resp.ThrottleMillis)
	}
}

// TestRateThrottleCapped checks Kafka's cap: however far over its quota a
// client is, it is throttled for at most the whole measured window.
func TestRateThrottleCapped(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRate(3, time.Second, now)
	if d := r.record(100, 1000, now); d != 0 {
		t.Fatalf("within the quota: throttled %v", d)
	}
	if d := r.record(1e9, 1000, now.Add(100*time.Millisecond)); d != 3*time.Second {
		t.Fatalf("far over the quota: throttled %v, want the window's 3s", d)
	}
}
