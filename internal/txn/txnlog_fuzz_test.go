package txn

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary key/value pairs to the __transaction_state
// decoder and the replay. Invariants: nothing panics; every error wraps
// ErrBadRecord or ErrUnknownRecord and leaves the replay unchanged; a
// decoded record re-encodes to bytes that decode to the same metadata, and
// re-encode to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	ongoing := EncodeRecord(&Metadata{TransactionalID: "t", ProducerID: 5, PrevProducerID: -1, NextProducerID: -1, ProducerEpoch: 2, TimeoutMs: 1000, State: Ongoing, Partitions: []TopicPartition{{"a", 0}, {"b", 1}}, StartMs: 1, LastUpdateMs: 2})
	v1 := EncodeRecord(&Metadata{TransactionalID: "t", ProducerID: 6, PrevProducerID: 5, NextProducerID: 7, ProducerEpoch: 0, TimeoutMs: 1000, State: PrepareCommit, Partitions: []TopicPartition{{"a", 0}}, StartMs: 1, LastUpdateMs: 2, ClientTxnVersion: 2})
	f.Add(ongoing.Key, ongoing.Value)
	f.Add(v1.Key, v1.Value)
	f.Add(ongoing.Key, []byte(nil))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0x7f, 0xff}, []byte{0xff})
	f.Add(ongoing.Key, append(bytes.Clone(ongoing.Value), 0xde, 0xad))
	f.Add(v1.Key, v1.Value[:len(v1.Value)-3])
	f.Add(ongoing.Key, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r := NewReplay()
		if err := r.Apply(ongoing.Key, ongoing.Value); err != nil {
			t.Fatalf("valid record: %v", err)
		}
		before := *r.txns["t"]
		id, m, err := DecodeRecord(key, value)
		if rerr := r.Apply(key, value); (rerr == nil) != (err == nil) {
			t.Fatalf("Apply and DecodeRecord disagree: %v vs %v", rerr, err)
		}
		if err != nil {
			if !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrUnknownRecord) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if r.Len() != 1 || !reflect.DeepEqual(*r.txns["t"], before) {
				t.Fatal("failed decode changed the replay")
			}
			return
		}
		if m == nil {
			return
		}
		rec := EncodeRecord(m)
		id2, m2, err := DecodeRecord(rec.Key, rec.Value)
		if err != nil || id2 != id || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded record: got %q %+v %v, want %q %+v", id2, m2, err, id, m)
		}
		if rec2 := EncodeRecord(m2); !bytes.Equal(rec2.Value, rec.Value) {
			t.Fatalf("encoding is not stable: %x then %x", rec.Value, rec2.Value)
		}
	})
}
