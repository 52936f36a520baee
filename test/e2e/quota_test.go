package e2e

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func strPtr(s string) *string { return &s }

// TestClientQuotasRoundTrip sets quotas on every kind of entity through
// kadm, reads them back with exact, default, "specified" and strict
// filters, and checks Kafka's errors for bad entries.
func TestClientQuotasRoundTrip(t *testing.T) {
	n := startNode(t, "", nil)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	user := func(name *string) kadm.ClientQuotaEntityComponent {
		return kadm.ClientQuotaEntityComponent{Type: "user", Name: name}
	}
	client := func(name *string) kadm.ClientQuotaEntityComponent {
		return kadm.ClientQuotaEntityComponent{Type: "client-id", Name: name}
	}
	set := func(key string, v float64) kadm.AlterClientQuotaOp {
		return kadm.AlterClientQuotaOp{Key: key, Value: v}
	}
	entries := []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{user(strPtr("alice"))}, Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1024), set("request_percentage", 50)}},
		{Entity: kadm.ClientQuotaEntity{user(strPtr("alice")), client(strPtr("app"))}, Ops: []kadm.AlterClientQuotaOp{set("consumer_byte_rate", 2048)}},
		{Entity: kadm.ClientQuotaEntity{user(nil)}, Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 4096)}},
		{Entity: kadm.ClientQuotaEntity{client(nil)}, Ops: []kadm.AlterClientQuotaOp{set("controller_mutation_rate", 2.5)}},
	}
	// validate_only changes nothing.
	if res, err := adm.ValidateAlterClientQuotas(ctx, entries); err != nil || res[0].Err != nil {
		t.Fatalf("validate: %v %v", err, res)
	}
	if got, err := adm.DescribeClientQuotas(ctx, false, nil); err != nil || len(got) != 0 {
		t.Fatalf("after validate_only: got %v %v, want no quotas", got, err)
	}
	res, err := adm.AlterClientQuotas(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
	describe := func(strict bool, cs ...kadm.DescribeClientQuotaComponent) kadm.DescribedClientQuotas {
		t.Helper()
		got, err := adm.DescribeClientQuotas(ctx, strict, cs)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := describe(false); len(got) != 4 {
		t.Fatalf("all: got %d entities, want 4: %v", len(got), got)
	}
	exactAlice := kadm.DescribeClientQuotaComponent{Type: "user", MatchName: strPtr("alice"), MatchType: 0}
	if got := describe(false, exactAlice); len(got) != 2 {
		t.Fatalf("user=alice: got %v, want alice and alice/app", got)
	}
	got := describe(true, exactAlice)
	if len(got) != 1 || len(got[0].Values) != 2 || got[0].Values[0].Key != "producer_byte_rate" || got[0].Values[0].Value != 1024 {
		t.Fatalf("strict user=alice: got %v", got)
	}
	if got := describe(true, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: 1}); len(got) != 1 || got[0].Values[0].Value != 4096 {
		t.Fatalf("default user: got %v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}); len(got) != 2 {
		t.Fatalf("any client-id: got %v, want alice/app and the default client", got)
	}
	// Remove one quota of alice; her other one stays.
	if _, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{user(strPtr("alice"))},
		Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Remove: true}}}}); err != nil {
		t.Fatal(err)
	}
	if got := describe(true, exactAlice); len(got) != 1 || len(got[0].Values) != 1 {
		t.Fatalf("after removal: got %v", got)
	}

	bad := []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{user(strPtr("bob"))}, Ops: []kadm.AlterClientQuotaOp{set("no_such_quota", 1)}},
		{Entity: kadm.ClientQuotaEntity{user(strPtr("bob"))}, Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1.5)}},
		{Entity: kadm.ClientQuotaEntity{{Type: "group", Name: strPtr("g")}}, Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1)}},
		{Entity: kadm.ClientQuotaEntity{user(strPtr(""))}, Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1)}},
	}
	res, err = adm.AlterClientQuotas(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("bad entry %d: got %v, want INVALID_REQUEST", i, r.Err)
		}
	}
	_, err = adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0}})
	if !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("exact match without a name: got %v, want INVALID_REQUEST", err)
	}
}

// quotaTestNode starts a node with samples one-second quota samples, sets
// quota key to value for the default user (which an unauthenticated
// client, ANONYMOUS, falls under) and creates a one-partition topic.
func quotaTestNode(t *testing.T, samples int, key string, value float64) (n *node, topic string) {
	t.Helper()
	n = startNode(t, "", map[string]string{"quota.window.num": strconv.Itoa(samples), "quota.window.size.seconds": "1"})
	topic = topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	setQuota(t, n.addr, kadm.ClientQuotaEntity{{Type: "user"}}, key, value)
	return n, topic
}

// setQuota sets one quota of an entity through kadm.
func setQuota(t *testing.T, addr string, e kadm.ClientQuotaEntity, key string, value float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(franzClient(t, addr)).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: e, Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: value}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set quota %s=%v on %v: %v %v", key, value, e, err, res)
	}
}

// The rate tests run as fast as the client can for warm, then measure for
// measure: the first windows let a new client through at its own pace.
const warm, measure = 3 * time.Second, 5 * time.Second

// checkRate fails the test unless bytes over span are within 10% of quota
// bytes per second.
func checkRate(t *testing.T, what string, bytes float64, span time.Duration, quota float64) {
	t.Helper()
	got := bytes / span.Seconds()
	t.Logf("%s %.0f B/s against a quota of %.0f B/s", what, got, quota)
	if got < 0.9*quota || got > 1.1*quota {
		t.Fatalf("%s %.0f B/s, want within 10%% of %.0f", what, got, quota)
	}
}

// TestProduceQuotaThrottles checks that a producer writing as fast as it
// can is held to within 10% of its producer_byte_rate over a bounded
// window, once the first windows have passed.
func TestProduceQuotaThrottles(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput for seconds")
	}
	const quota = 256 << 10
	n, topic := quotaTestNode(t, 2, "producer_byte_rate", quota)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(32<<10),
		kgo.MaxBufferedRecords(100), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 1000)
	var mu sync.Mutex
	var acked []time.Time // when each record was acknowledged
	start := time.Now()
	for time.Since(start) < warm+measure {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			mu.Lock()
			acked = append(acked, time.Now())
			mu.Unlock()
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	from, to := start.Add(warm), start.Add(warm+measure)
	var bytes float64
	for _, at := range acked {
		if !at.Before(from) && at.Before(to) {
			bytes += float64(len(value))
		}
	}
	checkRate(t, "produced", bytes, measure, quota)
}

// TestProduceQuotaMutesAcksZero checks that an acks=0 producer, which
// reads no throttle_time_ms, is held to within 10% of its
// producer_byte_rate by the muted connection alone: the partition's log
// end offset grows at the quota.
func TestProduceQuotaMutesAcksZero(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput for seconds")
	}
	const quota = 256 << 10
	n, topic := quotaTestNode(t, 2, "producer_byte_rate", quota)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchMaxBytes(32<<10), kgo.MaxBufferedRecords(100), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(franzClient(t, n.addr))
	endOffset := func() int64 {
		t.Helper()
		offs, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("end offset: %v", o.Err)
		}
		return o.Offset
	}
	// Produce blocks while the client's buffer is full, for as long as
	// the connection is muted: it runs on its own, and the offsets are
	// taken at the window's ends.
	value := make([]byte, 1000)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, kgo.ErrClientClosed) && !errors.Is(err, context.Canceled) {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}()
	defer func() { cancel(); close(stop); <-done }()
	<-time.After(warm)
	from, fromAt := endOffset(), time.Now()
	<-time.After(measure)
	to := endOffset()
	// Each 1000-byte value travels in a record of about 1010 bytes.
	checkRate(t, "produced with acks=0", float64(to-from)*1010, time.Since(fromAt), quota)
}

// TestFetchQuotaThrottles checks that a consumer reading a long backlog as
// fast as it can is held to within 10% of its consumer_byte_rate, and that
// a fetch asking for more than the quota allows at once gets no more.
func TestFetchQuotaThrottles(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput for seconds")
	}
	const quota = 256 << 10
	// Three samples: a fetch that comes late leaves slack a later one
	// can use only while the window still holds it.
	n, topic := quotaTestNode(t, 3, "consumer_byte_rate", quota)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A backlog of twice what the consumer may read in the test,
	// uncompressed so bytes on the wire are the values' bytes.
	value := make([]byte, 1000)
	recs := make([]*kgo.Record, 0, 2*quota*int(warm+measure)/int(time.Second)/len(value))
	for range cap(recs) {
		recs = append(recs, &kgo.Record{Topic: topic, Value: value})
	}
	producer := franzClient(t, n.addr, kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// quota.window.num 3 of 1 second: a fetch gets two samples' worth.
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 16<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 16 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// Fetch v12, the last to name topics rather than give their ids.
	resp, err := req.RequestWith(ctx, franzClient(t, n.addr, kgo.MaxVersions(kversion.V2_8_0())))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.Topics[0].Partitions[0].RecordBatches); got == 0 || got > 2*quota {
		t.Fatalf("a fetch for 16 MiB answered %d bytes, want some and at most %d", got, 2*quota)
	}

	// Small fetches, so that the rate is measured finely.
	cl := franzClient(t, n.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(32<<10), kgo.FetchMaxPartitionBytes(32<<10))
	start := time.Now()
	var bytes float64
	for time.Since(start) < warm+measure {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		at := time.Since(start)
		fs.EachRecord(func(r *kgo.Record) {
			if at >= warm && at < warm+measure {
				bytes += float64(len(r.Value))
			}
		})
	}
	checkRate(t, "consumed", bytes, measure, quota)
}

// TestControllerMutationQuota checks controller_mutation_rate (KIP-599)
// through franz-go: with a burst of 5 partitions per client id, strict
// versions of CreateTopics, DeleteTopics and CreatePartitions do the
// topics that come while the bucket is not empty and answer
// THROTTLING_QUOTA_EXCEEDED for the rest, an older CreateTopics does
// everything, and every answer past the burst carries a throttle time.
// Topics failing other checks count for nothing.
func TestControllerMutationQuota(t *testing.T) {
	// 0.5 partitions per second over 10 one-second samples: a burst of 5,
	// refilling one partition in 2 seconds, far longer than the test's
	// steps take.
	n := startNode(t, "", map[string]string{"controller.quota.window.num": "10"})
	setQuota(t, n.addr, kadm.ClientQuotaEntity{{Type: "client-id"}}, "controller_mutation_rate", 0.5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Each step has its own client id, so its own bucket (the quota is
	// the default client id's).
	client := func(id string, opts ...kgo.Opt) *kgo.Client {
		return franzClient(t, n.addr, append([]kgo.Opt{kgo.ClientID(id)}, opts...)...)
	}
	createTopics := func(cl *kgo.Client, partitions map[string]int32, order ...string) *kmsg.CreateTopicsResponse {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		for _, name := range order {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions[name], 1
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	type result struct {
		name string
		code int16
	}
	check := func(what string, got []result, want map[string]*kerr.Error) {
		t.Helper()
		for _, r := range got {
			if w := want[r.name]; r.code != errCode(w) {
				t.Errorf("%s %s: got %v, want %v", what, r.name, kerr.ErrorForCode(r.code), w)
			}
		}
	}
	throttled := func(what string, ms int32, most time.Duration) {
		t.Helper()
		if ms <= 0 || time.Duration(ms)*time.Millisecond > most {
			t.Errorf("%s: throttle_time_ms %d, want some and at most %v", what, ms, most)
		}
	}

	// Strict CreateTopics (v7): 3 then 3 partitions take the bucket from
	// 5 to -1; the next topic is refused. The bad name counts nothing.
	resp := createTopics(client("strict-create"), map[string]int32{"bad name": 1, "a": 3, "b": 3, "c": 1}, "bad name", "a", "b", "c")
	var got []result
	for _, r := range resp.Topics {
		got = append(got, result{r.Topic, r.ErrorCode})
	}
	check("create v7", got, map[string]*kerr.Error{"bad name": kerr.InvalidTopicException, "c": kerr.ThrottlingQuotaExceeded})
	throttled("create v7", resp.ThrottleMillis, 2*time.Second)

	// Permissive CreateTopics (v5, before KIP-599): everything is
	// created, the bucket goes to -4 and the answer says so.
	resp = createTopics(client("old-create", kgo.MaxVersions(kversion.V2_6_0())), map[string]int32{"d": 4, "e": 4, "f": 1}, "d", "e", "f")
	if resp.Version != 5 {
		t.Fatalf("create: sent v%d, want v5", resp.Version)
	}
	got = got[:0]
	for _, r := range resp.Topics {
		got = append(got, result{r.Topic, r.ErrorCode})
	}
	check("create v5", got, nil)
	throttled("create v5", resp.ThrottleMillis, 8*time.Second)
	if resp.ThrottleMillis < 7000 {
		t.Errorf("create v5: throttle_time_ms %d, want about 8000 (4 partitions over at 0.5/s)", resp.ThrottleMillis)
	}

	// Strict DeleteTopics (v6): a and b take the bucket to -1, d is refused.
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TimeoutMillis = 10000
	for _, name := range []string{"a", "b", "d"} {
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(name)
		del.Topics = append(del.Topics, dt)
	}
	dresp, err := del.RequestWith(ctx, client("strict-delete"))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, r := range dresp.Topics {
		got = append(got, result{*r.Topic, r.ErrorCode})
	}
	check("delete v6", got, map[string]*kerr.Error{"d": kerr.ThrottlingQuotaExceeded})
	throttled("delete v6", dresp.ThrottleMillis, 2*time.Second)

	// Strict CreatePartitions (v3): e grows by 6 (5 to -1), f is refused,
	// an unknown topic counts nothing.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.TimeoutMillis = 10000
	for _, tc := range []struct {
		name  string
		count int32
	}{{"nope", 2}, {"e", 10}, {"f", 2}} {
		ct := kmsg.NewCreatePartitionsRequestTopic()
		ct.Topic, ct.Count = tc.name, tc.count
		cp.Topics = append(cp.Topics, ct)
	}
	cresp, err := cp.RequestWith(ctx, client("strict-partitions"))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, r := range cresp.Topics {
		got = append(got, result{r.Topic, r.ErrorCode})
	}
	check("create partitions v3", got, map[string]*kerr.Error{"nope": kerr.UnknownTopicOrPartition, "f": kerr.ThrottlingQuotaExceeded})
	throttled("create partitions v3", cresp.ThrottleMillis, 2*time.Second)

	// What was done is in the metadata; what was refused is not.
	topics, err := kadm.NewClient(client("check")).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"c": -1, "a": -1, "b": -1, "d": 4, "e": 10, "f": 1}
	for name, parts := range want {
		td, ok := topics[name]
		switch {
		case parts < 0 && ok:
			t.Errorf("topic %s exists, want it absent", name)
		case parts >= 0 && (!ok || len(td.Partitions) != parts):
			t.Errorf("topic %s: got %d partitions (exists %v), want %d", name, len(td.Partitions), ok, parts)
		}
	}
}

// errCode is the code of a Kafka error, 0 for nil.
func errCode(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

// throttleHook counts the throttled responses a client sees.
type throttleHook struct{ n atomic.Int32 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// TestQuotaPerSCRAMUser checks that a quota on user alice applies to
// alice's SCRAM-authenticated producer and not to bob's.
func TestQuotaPerSCRAMUser(t *testing.T) {
	n := startNode(t, "", map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"quota.window.num":        "2",
	})
	plain, sasl := n.Listeners["PLAINTEXT"].String(), n.Listeners["SASL_PLAINTEXT"].String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(franzClient(t, plain))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create user %s: %v", r.User, r.Err)
		}
	}
	topic := topicName(t)
	createTopic(t, plain, topic, 1, nil)
	const quota = 32 << 10
	setQuota(t, plain, kadm.ClientQuotaEntity{{Type: "user", Name: kmsg.StringPtr("alice")}}, "producer_byte_rate", quota)

	// Each writes four times what alice may in the first window.
	value := make([]byte, 1000)
	produce := func(user, pass string) int32 {
		t.Helper()
		hook := &throttleHook{}
		cl := franzClient(t, sasl, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()), kgo.WithHooks(hook),
			kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		recs := make([]*kgo.Record, 4*quota/len(value))
		for i := range recs {
			recs[i] = &kgo.Record{Value: value}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", user, err)
		}
		return hook.n.Load()
	}
	if got := produce("bob", "bob-pw"); got != 0 {
		t.Errorf("bob: %d throttled responses, want none", got)
	}
	if got := produce("alice", "alice-pw"); got == 0 {
		t.Errorf("alice: no throttled response, want some")
	}
}
