package broker

// Client quota enforcement, as Kafka's ClientQuotaManager (KIP-13,
// KIP-124, KIP-219):
//   - Each request is measured against the quotas that apply to its
//     connection's user (the principal's name; ANONYMOUS before or without
//     authentication, as Kafka) and client id, each quota found on the most
//     specific entity that sets it (metadata.Image.ClientQuota).
//   - Produce records the request's size against producer_byte_rate, a
//     consumer's Fetch the record bytes it answers against
//     consumer_byte_rate, and every request the time its handler took, in
//     percent of one thread, against request_percentage.
//   - A rate is measured over quota.window.num samples of
//     quota.window.size.seconds each, and shared by every connection that
//     maps to the same entity (Kafka's metric tags): a quota set for a
//     user is the user's across client ids.
//   - Over a quota, the throttle time is Kafka's: (rate - quota) / quota
//     times the measured window. The response carries it in
//     throttle_time_ms, and the server mutes the connection for that long
//     once the response is sent (KIP-219), or delays the response for
//     versions before KIP-219.
//   - Follower fetches are not measured; acks=0 produces, which get no
//     response, are measured but never muted.

import (
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/metadata"
)

// quotaSensorKey names one shared rate: the quota and the user and client
// id it is measured for ("" where the matched entity has no such part).
type quotaSensorKey struct {
	quota, user, clientID string
}

// clientQuotas holds the rates measured for client quotas.
type clientQuotas struct {
	window  time.Duration
	samples int
	now     func() time.Time

	mu    sync.Mutex
	rates map[quotaSensorKey]*rate
}

func newClientQuotas(window time.Duration, samples int, now func() time.Time) *clientQuotas {
	return &clientQuotas{window: window, samples: samples, now: now, rates: map[quotaSensorKey]*rate{}}
}

// record adds value to the rate of quota for user and clientID, if a
// quota applies, and returns how long the client must be throttled.
func (q *clientQuotas) record(img *metadata.Image, quota, user, clientID string, value float64) time.Duration {
	entity, bound, ok := img.ClientQuota(quota, user, clientID)
	if !ok {
		return 0
	}
	key := quotaSensorKey{quota: quota}
	if entity.User.Kind != metadata.QuotaAbsent {
		key.user = user
	}
	if entity.ClientID.Kind != metadata.QuotaAbsent {
		key.clientID = clientID
	}
	now := q.now()
	q.mu.Lock()
	r := q.rates[key]
	if r == nil {
		r = newRate(q.samples, q.window, now)
		q.rates[key] = r
	}
	q.mu.Unlock()
	return r.record(value, bound, now)
}

// rate is Kafka's windowed Rate: samples of window each, the oldest
// dropped once samples*window old; the rate is their sum over the time
// they span, counted as at least samples-1 whole windows so a new client
// is not throttled for its first bytes.
type rate struct {
	mu     sync.Mutex
	window time.Duration
	starts []time.Time
	values []float64
	cur    int
}

func newRate(samples int, window time.Duration, now time.Time) *rate {
	r := &rate{window: window, starts: make([]time.Time, samples), values: make([]float64, samples)}
	for i := range r.starts {
		r.starts[i] = now
	}
	return r
}

// record adds v at now and returns the throttle time against bound: 0
// within it, else (rate-bound)/bound of the measured window.
func (r *rate) record(v, bound float64, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.starts[r.cur]) >= r.window {
		r.cur = (r.cur + 1) % len(r.starts)
		r.starts[r.cur], r.values[r.cur] = now, 0
	}
	r.values[r.cur] += v
	// Samples older than the whole window count for nothing.
	expire := time.Duration(len(r.starts)) * r.window
	oldest, total := now, 0.0
	for i, s := range r.starts {
		if now.Sub(s) >= expire {
			r.starts[i], r.values[i] = now, 0
		}
		if r.starts[i].Before(oldest) {
			oldest = r.starts[i]
		}
		total += r.values[i]
	}
	span := now.Sub(oldest)
	if minSpan := time.Duration(len(r.starts)-1) * r.window; span < minSpan {
		span = minSpan
	}
	if span <= 0 {
		span = r.window
	}
	measured := total / span.Seconds()
	if measured <= bound {
		return 0
	}
	return time.Duration((measured - bound) / bound * float64(span))
}

// throttled is a response that carries throttle_time_ms.
type throttled interface {
	Throttle() (int32, bool)
	SetThrottle(int32)
}

// applyQuotas measures req (handled since start, answered with resp) and
// sets the response's throttle time to the longest quota throttle.
func (b *Broker) applyQuotas(req *Request, resp kmsg.Response, start time.Time) {
	img := b.store.Current()
	if len(img.ClientQuotas()) == 0 {
		return
	}
	user := strings.TrimPrefix(req.Conn.Principal, "User:")
	var clientID string
	if req.ClientID != nil {
		clientID = *req.ClientID
	}
	var throttle time.Duration
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		throttle = b.quotas.record(img, quotaProduce, user, clientID, float64(req.Size))
	case *FetchResponse:
		fr := req.Body.(*kmsg.FetchRequest)
		replica := fr.ReplicaID
		if req.Version >= 15 {
			replica = fr.ReplicaState.ID
		}
		if replica < 0 {
			throttle = b.quotas.record(img, quotaFetch, user, clientID, float64(fetchedBytes(r)))
		}
	}
	// request_percentage is in percent of one thread's time.
	busy := float64(time.Since(start).Nanoseconds()) * 100 / 1e9
	throttle = max(throttle, b.quotas.record(img, quotaRequest, user, clientID, busy))
	if t, ok := resp.(throttled); ok && throttle > 0 {
		ms := int32(min(throttle.Milliseconds(), 1<<31-1))
		if cur, _ := t.Throttle(); ms > cur {
			t.SetThrottle(ms)
		}
	}
}

// fetchedBytes is the size of the record sets a fetch answers.
func fetchedBytes(r *FetchResponse) int64 {
	var n int64
	for _, t := range r.Records {
		for i := range t {
			n += t[i].Len()
		}
	}
	return n
}
