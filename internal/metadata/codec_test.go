package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// sampleRecords holds one canonical record of each kind (empty collections
// as nil, as the decoder produces them).
func sampleRecords() []Record {
	return []Record{
		RegisterBroker{ID: 1, Host: "localhost", Port: 9092},
		RegisterBroker{ID: 2147483647, Host: "h", Port: 65535, Rack: "rack-a"},
		CreateTopic{Name: "t", ID: idA, Partitions: []Partition{
			{Index: 0, Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1}},
			{Index: 1, Leader: -1, Replicas: []int32{2}},
		}, Configs: map[string]string{"retention.ms": "-1", "cleanup.policy": "compact"}},
		CreateTopic{Name: "u", ID: idB, Partitions: []Partition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}},
		DeleteTopic{ID: idA},
		CreatePartitions{TopicID: idB, Partitions: []Partition{{Index: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}},
		SetTopicConfigs{TopicID: idA, Set: map[string]string{"a": ""}, Delete: []string{"b", "c"}},
		SetTopicConfigs{TopicID: idA},
		AllocateProducerIDs{Broker: 1, First: 1 << 40, Count: 1000},
		AllocateProducerIDs{Broker: -1, First: -5, Count: -9223372036854775808},
		SetClusterID{ID: "abcdefghijklmnopqrstuv"},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		b := EncodeRecord(r)
		if b[0] != Version || kind(b[1]) != r.kind() {
			t.Fatalf("%T: got header % x", r, b[:2])
		}
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("%T: decode: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("got %#v, want %#v", got, r)
		}
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	valid := EncodeRecord(CreateTopic{Name: "t", ID: idA, Partitions: []Partition{{Leader: 1, Replicas: []int32{1}}}})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"only version", []byte{Version}, ErrCorrupt},
		{"bad version", []byte{9, byte(kindDeleteTopic)}, ErrUnsupportedVersion},
		{"unknown kind", []byte{Version, 99}, ErrCorrupt},
		{"snapshot kind", []byte{Version, byte(kindSnapshot)}, ErrCorrupt},
		{"truncated", valid[:len(valid)-1], ErrCorrupt},
		{"trailing", append(bytes.Clone(valid), 0), ErrCorrupt},
		{"huge length", []byte{Version, byte(kindSetClusterID), 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrCorrupt},
		{"bad varint", []byte{Version, byte(kindRegisterBroker), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrCorrupt},
		{"int32 overflow", []byte{Version, byte(kindRegisterBroker), 0x80, 0x80, 0x80, 0x80, 0x20, 0, 0, 0}, ErrCorrupt},
		{"short uuid", []byte{Version, byte(kindDeleteTopic), 1, 2, 3}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRecord(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want error %v", r, err, tt.want)
			}
		})
	}
}

// FuzzDecodeRecord checks that DecodeRecord never panics and that whatever
// it accepts re-encodes to bytes that decode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		b := EncodeRecord(r)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append(bytes.Clone(b), 0xff))
	}
	f.Add([]byte{})
	f.Add([]byte{Version, byte(kindSetTopicConfigs)})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again, err := DecodeRecord(EncodeRecord(r))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("got %#v, want %#v", again, r)
		}
	})
}
