package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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

// TestProduceQuotaThrottles sets producer_byte_rate for the default user
// (which an unauthenticated client, ANONYMOUS, falls under) and checks that
// a producer writing as fast as it can is held to within 10% of it over a
// bounded window, once the first windows have passed.
func TestProduceQuotaThrottles(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput for seconds")
	}
	const quota = 256 << 10
	n := startNode(t, "", map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user"}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quota}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set quota: %v %v", err, res)
	}
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(32<<10),
		kgo.MaxBufferedRecords(100), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 1000)
	var mu sync.Mutex
	var acked []time.Time // when each record was acknowledged
	start := time.Now()
	const warm, measure = 3 * time.Second, 5 * time.Second
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
	got := bytes / measure.Seconds()
	t.Logf("produced %.0f B/s against a quota of %d B/s (%d records in all)", got, quota, len(acked))
	if got < 0.9*quota || got > 1.1*quota {
		t.Fatalf("produced %.0f B/s, want within 10%% of %d", got, quota)
	}
}
