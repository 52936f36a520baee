package txn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// be appends big-endian integers: the fixed-width fields of Kafka's schemas.
func be(b []byte, vs ...any) []byte {
	for _, v := range vs {
		b, _ = binary.Append(b, binary.BigEndian, v)
	}
	return b
}

// str appends a non-flexible string (int16 length).
func str(b []byte, s string) []byte { return append(be(b, int16(len(s))), s...) }

// cstr appends a compact string (uvarint length+1).
func cstr(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s)+1)), s...) }

// TestDecodeKafkaBytes decodes records built by hand from Kafka's schemas
// (TransactionLogKey v0, TransactionLogValue v0 and v1) as Kafka 3.x and 4.x
// write them, and checks that we encode the same bytes.
func TestDecodeKafkaBytes(t *testing.T) {
	key := str(be(nil, int16(0)), "tx-1")

	// Version 0: Ongoing with two topics, written by Kafka 3.x.
	v0 := be(nil, int16(0), int64(4001), int16(3), int32(60000), int8(1))
	v0 = be(v0, int32(2))
	v0 = be(str(v0, "a"), int32(2), int32(0), int32(2))
	v0 = be(str(v0, "b"), int32(1), int32(7))
	v0 = be(v0, int64(1_700_000_000_500), int64(1_700_000_000_000))

	// Version 1 (flexible): PrepareCommit of a transaction version 2 client
	// that rotated producer ids, with tags 0 (previous id), 1 (next id), 2
	// (client transaction version).
	v1 := be(nil, int16(1), int64(4002), int16(5), int32(30000), int8(2))
	v1 = binary.AppendUvarint(v1, 2) // one topic
	v1 = binary.AppendUvarint(be(binary.AppendUvarint(cstr(v1, "c"), 2), int32(9)), 0)
	v1 = be(v1, int64(1_700_000_001_000), int64(1_700_000_000_900))
	v1 = binary.AppendUvarint(v1, 3)
	v1 = be(append(v1, 0, 8), int64(4000))
	v1 = be(append(v1, 1, 8), int64(4003))
	v1 = be(append(v1, 2, 2), int16(2))

	// Empty writes a null partition array.
	vEmpty := be(nil, int16(0), int64(4001), int16(4), int32(60000), int8(0), int32(-1), int64(5), int64(-1))

	tests := []struct {
		name  string
		value []byte
		want  *Metadata
	}{
		{"v0 ongoing", v0, &Metadata{
			TransactionalID: "tx-1", ProducerID: 4001, PrevProducerID: -1, NextProducerID: -1,
			ProducerEpoch: 3, LastProducerEpoch: -1, TimeoutMs: 60000, State: Ongoing,
			Partitions: []TopicPartition{{"a", 0}, {"a", 2}, {"b", 7}},
			StartMs:    1_700_000_000_000, LastUpdateMs: 1_700_000_000_500,
		}},
		{"v1 prepare commit", v1, &Metadata{
			TransactionalID: "tx-1", ProducerID: 4002, PrevProducerID: 4000, NextProducerID: 4003,
			ProducerEpoch: 5, LastProducerEpoch: -1, TimeoutMs: 30000, State: PrepareCommit,
			Partitions: []TopicPartition{{"c", 9}},
			StartMs:    1_700_000_000_900, LastUpdateMs: 1_700_000_001_000, ClientTxnVersion: 2,
		}},
		{"v0 empty", vEmpty, &Metadata{
			TransactionalID: "tx-1", ProducerID: 4001, PrevProducerID: -1, NextProducerID: -1,
			ProducerEpoch: 4, LastProducerEpoch: -1, TimeoutMs: 60000, State: Empty, StartMs: -1, LastUpdateMs: 5,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, got, err := DecodeRecord(key, tt.value)
			if err != nil || id != "tx-1" {
				t.Fatalf("decode: id %q err %v", id, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			rec := EncodeRecord(got)
			if !bytes.Equal(rec.Key, key) || !bytes.Equal(rec.Value, tt.value) {
				t.Fatalf("encode: got key %x value %x, want %x %x", rec.Key, rec.Value, key, tt.value)
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, m := range []Metadata{
		{TransactionalID: "x", ProducerID: 1, PrevProducerID: -1, NextProducerID: -1, ProducerEpoch: 0, LastProducerEpoch: -1, TimeoutMs: 1, State: Empty, StartMs: -1, LastUpdateMs: 9},
		{TransactionalID: "é☃𝄞", ProducerID: 1 << 40, PrevProducerID: 3, NextProducerID: -1, ProducerEpoch: 32766, LastProducerEpoch: -1, TimeoutMs: 900000, State: CompleteAbort, Partitions: nil, StartMs: 7, LastUpdateMs: 9},
		{TransactionalID: "y", ProducerID: 2, PrevProducerID: -1, NextProducerID: -1, ProducerEpoch: 1, LastProducerEpoch: -1, TimeoutMs: 10, State: PrepareAbort, Partitions: []TopicPartition{{"a", 1}, {"b", 0}, {"b", 3}}, StartMs: 7, LastUpdateMs: 9},
	} {
		rec := EncodeRecord(&m)
		id, got, err := DecodeRecord(rec.Key, rec.Value)
		if err != nil || id != m.TransactionalID || !reflect.DeepEqual(*got, m) {
			t.Errorf("round trip of %+v: got %q %+v, %v", m, id, got, err)
		}
	}
	tomb := TombstoneRecord("x")
	if id, m, err := DecodeRecord(tomb.Key, tomb.Value); err != nil || id != "x" || m != nil {
		t.Errorf("tombstone: got %q %v %v", id, m, err)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	key := txnKey("t")
	good := EncodeRecord(&Metadata{TransactionalID: "t", ProducerID: 1, PrevProducerID: -1, NextProducerID: -1, State: Empty}).Value
	withState := func(s int8) []byte { v := bytes.Clone(good); v[16] = byte(s); return v }
	tests := []struct {
		name       string
		key, value []byte
		want       error
	}{
		{"short key", []byte{0}, good, ErrBadRecord},
		{"key version 1", be(nil, int16(1), int16(1), byte('t')), good, ErrUnknownRecord},
		{"truncated key", be(nil, int16(0), int16(5), byte('t')), good, ErrBadRecord},
		{"short value", key, []byte{0}, ErrBadRecord},
		{"value version 2", key, append(be(nil, int16(2)), good[2:]...), ErrUnknownRecord},
		{"value version -1", key, append(be(nil, int16(-1)), good[2:]...), ErrUnknownRecord},
		{"truncated value", key, good[:len(good)-1], ErrBadRecord},
		{"dead state", key, withState(int8(Dead)), ErrBadRecord},
		{"epoch fence state", key, withState(int8(PrepareEpochFence)), ErrBadRecord},
		{"unknown state", key, withState(9), ErrBadRecord},
		{"negative producer id", key, append(be(nil, int16(0), int64(-1)), good[10:]...), ErrBadRecord},
	}
	for _, tt := range tests {
		if _, _, err := DecodeRecord(tt.key, tt.value); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	// Kafka reads a value with bytes after its last field; so do we.
	if _, _, err := DecodeRecord(key, append(bytes.Clone(good), 0)); err != nil {
		t.Errorf("trailing bytes: got %v, want nil", err)
	}
}

func TestReplay(t *testing.T) {
	a := Metadata{TransactionalID: "a", ProducerID: 1, PrevProducerID: -1, NextProducerID: -1, LastProducerEpoch: -1, State: Empty, StartMs: -1}
	b := a
	b.TransactionalID = "b"
	a2 := a
	a2.ProducerEpoch = 1
	r := NewReplay()
	for _, rec := range []Record{EncodeRecord(&a), EncodeRecord(&b), EncodeRecord(&a2), TombstoneRecord("b")} {
		if err := r.Apply(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply([]byte{0, 9}, nil); !errors.Is(err, ErrUnknownRecord) {
		t.Fatalf("unknown key: got %v", err)
	}
	if r.Len() != 1 || !reflect.DeepEqual(*r.txns["a"], a2) {
		t.Fatalf("got %d ids, a = %+v; want only a at epoch 1", r.Len(), r.txns["a"])
	}
}

func TestStateNames(t *testing.T) {
	for s := Empty; s <= PrepareEpochFence; s++ {
		if got, ok := ParseState(s.String()); !ok || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if _, ok := ParseState("Bogus"); ok {
		t.Error("ParseState accepted Bogus")
	}
	if got := State(12).String(); got != "State(12)" {
		t.Errorf("State(12) = %q", got)
	}
}
