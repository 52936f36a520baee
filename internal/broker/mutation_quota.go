package broker

// controller_mutation_rate (KIP-599), as Kafka's
// ControllerMutationQuotaManager:
//   - CreateTopics, CreatePartitions and DeleteTopics count the
//     partitions they create or delete against the quota of the
//     connection's user and client id. Each entity has a token bucket
//     that refills at the quota's rate (partitions per second) and holds
//     up to the rate times controller.quota.window.num times
//     controller.quota.window.size.seconds; it starts full, and a
//     mutation may take it below zero.
//   - From CreateTopics v6, CreatePartitions v3 and DeleteTopics v5 the
//     quota is strict: a topic that comes while the bucket is below zero
//     is refused with THROTTLING_QUOTA_EXCEEDED and counts for nothing; one
//     that comes while it is not is done whatever its size. Older versions
//     are permissive: everything is done and counted.
//   - A strict answer that refused a topic, and a permissive one that
//     left the bucket below zero, carry the time the bucket takes to
//     refill to zero in throttle_time_ms, and the connection is muted for
//     it like any throttled one.
//   - A topic is counted only once it passed every other check (Kafka
//     applies the quota last), validate_only requests included.

import (
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// tokenBucket is the controller_mutation_rate of one entity.
type tokenBucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// refillLocked adds what rate earned since the last change, up to burst.
func (tb *tokenBucket) refillLocked(rate, burst float64, now time.Time) {
	if tb.last.IsZero() {
		tb.tokens = burst
	} else {
		tb.tokens = min(burst, tb.tokens+rate*now.Sub(tb.last).Seconds())
	}
	tb.last = now
}

// bucket returns the token bucket of controller_mutation_rate for user
// and clientID and the quota, or ok false when none applies.
func (q *clientQuotas) bucket(img *metadata.Image, user, clientID string) (tb *tokenBucket, rate float64, ok bool) {
	key, rate, ok := sensorKey(img, quotaMutation, user, clientID)
	if !ok {
		return nil, 0, false
	}
	return shared(q, q.buckets, key, func() *tokenBucket { return &tokenBucket{} }), rate, true
}

// mutationQuota is one request's controller_mutation_rate (Kafka's
// ControllerMutationQuota).
type mutationQuota struct {
	tb     *tokenBucket // nil: no quota applies
	rate   float64
	burst  float64
	strict bool
	now    func() time.Time // set with tb
	// throttle is the last time the bucket was found below zero and how
	// far; throttleTime counts down from it.
	throttle   time.Duration
	throttleAt time.Time
}

// mutationQuota returns req's controller_mutation_rate, strict from
// version strictSince of its API.
func (b *Broker) mutationQuota(req *Request, strictSince int16) *mutationQuota {
	q := &mutationQuota{strict: req.Version >= strictSince}
	img := b.store.Current()
	if len(img.ClientQuotas()) == 0 {
		return q
	}
	user, clientID := quotaIdentity(req)
	if tb, rate, ok := b.quotas.bucket(img, user, clientID); ok {
		q.tb, q.rate, q.now = tb, rate, b.quotas.now
		q.burst = rate * b.cfg.Settings.MutationQuotaWindow().Seconds()
	}
	return q
}

// limited reports whether a quota applies.
func (q *mutationQuota) limited() bool { return q.tb != nil }

// errThrottled is a topic refused by a strict quota.
var errThrottled = apiErrorf(kerr.ThrottlingQuotaExceeded, "%s", kerr.ThrottlingQuotaExceeded.Description)

// record counts n partitions created or deleted. A strict quota already
// exhausted refuses them (THROTTLING_QUOTA_EXCEEDED).
func (q *mutationQuota) record(n int) error {
	if q.tb == nil {
		return nil
	}
	now := q.now()
	q.tb.mu.Lock()
	defer q.tb.mu.Unlock()
	q.tb.refillLocked(q.rate, q.burst, now)
	if q.strict && q.tb.tokens < 0 {
		q.throttledLocked(now)
		return errThrottled
	}
	q.tb.tokens = min(q.burst, q.tb.tokens-float64(n))
	if !q.strict && q.tb.tokens < 0 {
		q.throttledLocked(now)
	}
	return nil
}

// throttledLocked notes the time the bucket needs to refill to zero.
func (q *mutationQuota) throttledLocked(now time.Time) {
	ms := math.Round(-q.tb.tokens / q.rate * 1000)
	q.throttle, q.throttleAt = time.Duration(ms)*time.Millisecond, now
}

// apply sets resp's throttle time to what is left of the quota's
// throttle, if that is longer.
func (q *mutationQuota) apply(resp throttled) {
	if q.throttle <= 0 {
		return
	}
	left := q.throttle - q.now().Sub(q.throttleAt)
	if left <= 0 {
		return
	}
	ms := int32(min(left.Milliseconds(), math.MaxInt32))
	if cur, _ := resp.Throttle(); ms > cur {
		resp.SetThrottle(ms)
	}
}
