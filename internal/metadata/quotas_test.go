package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestClientQuotaPrecedence checks Kafka's eight levels: each entity in
// turn is the most specific one left, and wins until removed.
func TestClientQuotaPrecedence(t *testing.T) {
	dflt := QuotaName{Kind: QuotaDefault}
	levels := []QuotaEntity{
		{User: Named("alice"), ClientID: Named("app")}, {User: Named("alice"), ClientID: dflt}, {User: Named("alice")},
		{User: dflt, ClientID: Named("app")}, {User: dflt, ClientID: dflt}, {User: dflt},
		{ClientID: Named("app")}, {ClientID: dflt},
	}
	img := &Image{}
	index := uint64(0)
	apply := func(r SetClientQuotas) {
		t.Helper()
		index++
		var err error
		if img, err = img.Apply(index, r); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range levels {
		apply(SetClientQuotas{Entity: e, Set: map[string]float64{"producer_byte_rate": float64(i + 1)}})
	}
	// Another user and client id fall through to the defaults.
	if e, v, ok := img.ClientQuota("producer_byte_rate", "bob", "other"); !ok || v != 5 || e != levels[4] {
		t.Fatalf("bob/other: got %v %v %v, want the default user's default client", e, v, ok)
	}
	for i, e := range levels {
		got, v, ok := img.ClientQuota("producer_byte_rate", "alice", "app")
		if !ok || got != e || v != float64(i+1) {
			t.Fatalf("level %d: got %+v = %v (%v), want %+v", i+1, got, v, ok, e)
		}
		if _, _, ok := img.ClientQuota("consumer_byte_rate", "alice", "app"); ok {
			t.Fatal("a quota nobody set applies")
		}
		apply(SetClientQuotas{Entity: e, Delete: []string{"producer_byte_rate"}})
	}
	if _, _, ok := img.ClientQuota("producer_byte_rate", "alice", "app"); ok || len(img.ClientQuotas()) != 0 {
		t.Fatalf("quotas left after removing them all: %v", img.ClientQuotas())
	}
}

func TestSetClientQuotasErrors(t *testing.T) {
	for _, r := range []SetClientQuotas{
		{Set: map[string]float64{"producer_byte_rate": 1}},
		{Entity: QuotaEntity{User: QuotaName{Kind: QuotaNamed}}, Set: map[string]float64{"producer_byte_rate": 1}},
		{Entity: QuotaEntity{User: QuotaName{Kind: QuotaDefault, Name: "x"}}},
		{Entity: QuotaEntity{User: QuotaName{Kind: 3, Name: "x"}}},
		{Entity: QuotaEntity{User: Named("u")}, Set: map[string]float64{"producer_byte_rate": -1}},
		{Entity: QuotaEntity{User: Named("u")}, Set: map[string]float64{"": 1}},
		{Entity: QuotaEntity{User: Named("u")}, Set: map[string]float64{"a": 1}, Delete: []string{"a"}},
	} {
		if _, err := (&Image{}).Apply(1, r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%+v: got %v, want ErrInvalidRecord", r, err)
		}
	}
}

// FuzzDecodeClientQuotas checks that a client quota record never panics
// the decoder or Apply, and that what decodes re-encodes to the same bytes
// and applies the same after a round trip.
func FuzzDecodeClientQuotas(f *testing.F) {
	f.Add(EncodeRecord(SetClientQuotas{Entity: QuotaEntity{User: Named("alice"), ClientID: QuotaName{Kind: QuotaDefault}},
		Set: map[string]float64{"producer_byte_rate": 1024}, Delete: []string{"request_percentage"}}))
	f.Add(EncodeRecord(SetClientQuotas{Entity: QuotaEntity{ClientID: Named("c")}, Set: map[string]float64{"a": 1, "b": 2}}))
	f.Add([]byte{Version, byte(kindSetClientQuotas), 1})
	f.Add([]byte{4, byte(kindSetClientQuotas), 0, 0, 0, 0})
	f.Add([]byte{Version, byte(kindSetClientQuotas), 2, 9, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again := EncodeRecord(r)
		r2, err := DecodeRecord(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v, %#v vs %#v", err, r, r2)
		}
		img, err := (&Image{}).Apply(1, r)
		if err != nil {
			return
		}
		snap, _ := img.EncodeSnapshot()
		back, err := DecodeSnapshot(snap)
		if err != nil {
			t.Fatalf("snapshot of an applied record: %v", err)
		}
		if snap2, _ := back.EncodeSnapshot(); !bytes.Equal(snap, snap2) {
			t.Fatal("snapshot re-encoding differs")
		}
	})
}
