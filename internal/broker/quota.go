package broker

// Client quota enforcement, as Kafka's ClientQuotaManager (KIP-13,
// KIP-124, KIP-219):
//   - Each request is measured against the quotas that apply to its
//     connection's user (the principal's name; ANONYMOUS before or without
//     authentication, as Kafka) and client id, each quota found on the most
//     specific entity that sets it (metadata.Image.ClientQuota).
//   - Produce records the request's size against producer_byte_rate, a
//     consumer's Fetch the record bytes it answers against
//     consumer_byte_rate, and every request the time its handler took
//     (less any long-poll wait), in percent of one thread, against
//     request_percentage.
//   - A consumer's Fetch takes at most what the quota allows over all
//     samples but the current one (Kafka's getMaxValueInQuotaWindow), so a
//     fetch never has to be throttled for its size alone; one that would
//     go over the quota is answered with no partitions, its bytes taken
//     back, as Kafka answers it.
//   - A rate is measured over quota.window.num samples of
//     quota.window.size.seconds each, and shared by every connection that
//     maps to the same entity (Kafka's metric tags): a quota set for a
//     user is the user's across client ids.
//   - Over a quota, the throttle time is Kafka's: (rate - quota) / quota
//     times the measured window. The response carries it in
//     throttle_time_ms, and the server mutes the connection for that long
//     once the response is sent (KIP-219), or delays the response for
//     versions before KIP-219.
//   - Follower fetches are not measured. acks=0 produces, which get no
//     response, count against producer_byte_rate (not request_percentage)
//     and over it mute the connection from when they are served, as
//     Kafka mutes the channel for them.

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

	mu      sync.Mutex
	rates   map[quotaSensorKey]*rate
	buckets map[quotaSensorKey]*tokenBucket // controller_mutation_rate
}

func newClientQuotas(window time.Duration, samples int, now func() time.Time) *clientQuotas {
	return &clientQuotas{window: window, samples: samples, now: now,
		rates: map[quotaSensorKey]*rate{}, buckets: map[quotaSensorKey]*tokenBucket{}}
}

// record adds value to the rate of quota for user and clientID, if a
// quota applies, and returns how long the client must be throttled.
func (q *clientQuotas) record(img *metadata.Image, quota, user, clientID string, value float64) time.Duration {
	r, bound, ok := q.sensor(img, quota, user, clientID)
	if !ok {
		return 0
	}
	return r.record(value, bound, q.now())
}

// sensor returns the shared rate of quota for user and clientID and the
// quota's value, or ok false when no quota applies.
func (q *clientQuotas) sensor(img *metadata.Image, quota, user, clientID string) (r *rate, bound float64, ok bool) {
	key, bound, ok := sensorKey(img, quota, user, clientID)
	if !ok {
		return nil, 0, false
	}
	return shared(q, q.rates, key, func() *rate { return newRate(q.samples, q.window, q.now()) }), bound, true
}

// shared returns m's entry for key, made by mk when there is none yet; q.mu
// guards m.
func shared[V any](q *clientQuotas, m map[quotaSensorKey]*V, key quotaSensorKey, mk func() *V) *V {
	q.mu.Lock()
	defer q.mu.Unlock()
	v := m[key]
	if v == nil {
		v = mk()
		m[key] = v
	}
	return v
}

// sensorKey names the rate of quota that user and clientID share with
// every connection mapping to the same entity, and returns the quota, or
// ok false when none applies.
func sensorKey(img *metadata.Image, quota, user, clientID string) (key quotaSensorKey, bound float64, ok bool) {
	entity, bound, ok := img.ClientQuota(quota, user, clientID)
	if !ok {
		return key, 0, false
	}
	key.quota = quota
	if entity.User.Kind != metadata.QuotaAbsent {
		key.user = user
	}
	if entity.ClientID.Kind != metadata.QuotaAbsent {
		key.clientID = clientID
	}
	return key, bound, true
}

// windowBytes is the most a byte-rate quota of bound lets a client take
// at once without being throttled, as Kafka's getMaxValueInQuotaWindow:
// the quota over all samples but the current one.
func (q *clientQuotas) windowBytes(bound float64) int64 {
	return int64(min(bound*float64(q.samples-1)*q.window.Seconds(), 1<<31-1))
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
	r.addLocked(v, now)
	return r.throttleLocked(bound, now)
}

// unrecord takes back v recorded at now, for a fetch answered empty
// because it was throttled (Kafka's unrecordQuotaSensor).
func (r *rate) unrecord(v float64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(-v, now)
}

func (r *rate) addLocked(v float64, now time.Time) {
	if now.Sub(r.starts[r.cur]) >= r.window {
		r.cur = (r.cur + 1) % len(r.starts)
		r.starts[r.cur], r.values[r.cur] = now, 0
	}
	r.values[r.cur] += v
}

// throttleLocked is the throttle time against bound at now.
func (r *rate) throttleLocked(bound float64, now time.Time) time.Duration {
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
	// Kafka caps a throttle at the whole measured window.
	return min(time.Duration((measured-bound)/bound*float64(span)), expire)
}

// throttled is a response that carries throttle_time_ms.
type throttled interface {
	Throttle() (int32, bool)
	SetThrottle(int32)
}

// applyQuotas measures req (handled since start, answered with resp) and
// sets the response's throttle time to the longest quota throttle. A
// consumer's Fetch has measured its bytes itself (fetchQuota).
func (b *Broker) applyQuotas(req *Request, resp kmsg.Response, start time.Time) {
	img := b.store.Current()
	if len(img.ClientQuotas()) == 0 {
		return
	}
	user, clientID := quotaIdentity(req)
	var throttle time.Duration
	if _, ok := resp.(*kmsg.ProduceResponse); ok {
		throttle = b.quotas.record(img, quotaProduce, user, clientID, float64(req.Size))
	}
	// request_percentage is in percent of one thread's time; waiting
	// for data (a long-polling fetch) takes none.
	busy := float64((time.Since(start) - req.waited).Nanoseconds()) * 100 / 1e9
	throttle = max(throttle, b.quotas.record(img, quotaRequest, user, clientID, busy))
	if t, ok := resp.(throttled); ok && throttle > 0 {
		ms := int32(min(throttle.Milliseconds(), 1<<31-1))
		if cur, _ := t.Throttle(); ms > cur {
			t.SetThrottle(ms)
		}
	}
}

// silentThrottle measures a request that gets no response (a produce
// with acks=0) and returns how long to mute its connection. As in Kafka,
// its bytes count against producer_byte_rate, and it is exempt from
// request_percentage.
func (b *Broker) silentThrottle(req *Request) time.Duration {
	img := b.store.Current()
	if req.Key != 0 || len(img.ClientQuotas()) == 0 {
		return 0
	}
	user, clientID := quotaIdentity(req)
	return b.quotas.record(img, quotaProduce, user, clientID, float64(req.Size))
}

// quotaIdentity is the user and client id req's quotas are looked up by.
func quotaIdentity(req *Request) (user, clientID string) {
	user = strings.TrimPrefix(req.Conn.Principal, "User:")
	if req.ClientID != nil {
		clientID = *req.ClientID
	}
	return user, clientID
}

// consumerQuota is the consumer_byte_rate a consumer's fetch is measured
// against.
type consumerQuota struct {
	r        *rate
	bound    float64
	now      func() time.Time
	maxBytes int32 // the most one fetch may take
}

// fetchQuota returns the consumer_byte_rate of a consumer's fetch (replica
// < 0; followers are not limited), if one applies.
func (b *Broker) fetchQuota(req *Request, replica int32) (consumerQuota, bool) {
	img := b.store.Current()
	if replica >= 0 || len(img.ClientQuotas()) == 0 {
		return consumerQuota{}, false
	}
	user, clientID := quotaIdentity(req)
	r, bound, ok := b.quotas.sensor(img, quotaFetch, user, clientID)
	if !ok {
		return consumerQuota{}, false
	}
	return consumerQuota{r: r, bound: bound, now: b.quotas.now, maxBytes: int32(b.quotas.windowBytes(bound))}, true
}

// take records n bytes answered and returns the throttle time; a fetch
// that is throttled is answered empty, so its bytes are taken back.
func (q consumerQuota) take(n int) time.Duration {
	now := q.now()
	throttle := q.r.record(float64(n), q.bound, now)
	if throttle > 0 {
		q.r.unrecord(float64(n), now)
	}
	return throttle
}
