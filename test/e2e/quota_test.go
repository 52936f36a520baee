package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	user := func(name *string) kadm.ClientQuotaEntityComponent { return kadm.ClientQuotaEntityComponent{Type: "user", Name: name} }
	client := func(name *string) kadm.ClientQuotaEntityComponent {
		return kadm.ClientQuotaEntityComponent{Type: "client-id", Name: name}
	}
	set := func(key string, v float64) kadm.AlterClientQuotaOp { return kadm.AlterClientQuotaOp{Key: key, Value: v} }
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
