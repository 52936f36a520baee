package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/stratalog/strata/internal/auth"
)

// aclSample is an ALLOW READ ACL of User:alice on the topics name names.
func aclSample(id [16]byte, name string, pt auth.PatternType) ACL {
	return ACL{ID: id, Binding: auth.Binding{ResourceType: auth.ResourceTopic, ResourceName: name, PatternType: pt,
		Principal: "User:alice", Host: "*", Operation: auth.OpRead, Permission: auth.PermissionAllow}}
}

// sample is a canonical record (empty collections as nil, as the decoder
// produces them) and the version that encodes it: the lowest that holds it.
type sample struct {
	rec     Record
	version byte
}

// samples holds records of every kind, in every version they take.
func samples() []sample {
	return []sample{
		{RegisterBroker{ID: 1, Host: "localhost", Port: 9092}, 2},
		{RegisterBroker{ID: 2147483647, Host: "h", Port: 65535, Rack: "rack-a", Incarnation: idC}, 2},
		{RegisterBroker{ID: 1, Host: "h", Port: 9092, Incarnation: idC, Listeners: []Endpoint{
			{Name: "PLAINTEXT", Host: "h", Port: 9092}, {Name: "SSL", Host: "h2", Port: 9093}}}, 5},
		{FenceBroker{ID: 3, Epoch: 1 << 40}, 2},
		{UnregisterBroker{ID: 4, Epoch: 77}, 3},
		{SetBrokerConfigs{Broker: ClusterDefault, Set: map[string]string{"log.retention.ms": "5"}, Delete: []string{"message.max.bytes"}}, 3},
		{SetBrokerConfigs{Broker: 2}, 3},
		{SetBrokerConfigs{Broker: 2, Set: map[string]string{"log.retention.ms": "6"}, Guarded: true, Base: map[string]string{"log.retention.ms": "5"}}, 4},
		{SetBrokerConfigs{Broker: ClusterDefault, Delete: []string{"a"}, Guarded: true}, 4},
		{SetControllerAddr{ID: 4, Addr: "127.0.0.1:9196"}, 4},
		{SetACLs{Create: []ACL{aclSample(idA, "orders", auth.PatternLiteral), aclSample(idB, "logs-", auth.PatternPrefixed)}}, 5},
		{SetACLs{Delete: [][16]byte{idA}}, 5},
		{SetACLs{Create: []ACL{aclSample(idC, "*", auth.PatternLiteral)}, Delete: [][16]byte{idA, idB}}, 5},
		{Batch{Records: []Record{UnfenceBroker{ID: 3, Epoch: 7}, SetACLs{Delete: [][16]byte{idC}}}}, 5},
		{SetClientQuotas{Entity: QuotaEntity{User: Named("alice"), ClientID: QuotaName{Kind: QuotaDefault}},
			Set: map[string]float64{"producer_byte_rate": 1024, "request_percentage": 12.5}, Delete: []string{"consumer_byte_rate"}}, 5},
		{SetClientQuotas{Entity: QuotaEntity{ClientID: Named("c")}}, 5},
		{UnfenceBroker{ID: 3, Epoch: 7}, 2},
		{ChangePartitions{Changes: []PartitionChange{
			{TopicID: idA, Partition: 1, Epoch: 4, Leader: 2, LeaderEpoch: 9, ISR: []int32{2, 3}},
			{TopicID: idB, Partition: 0, Epoch: 0, Leader: -1, LeaderEpoch: 1, ISR: []int32{1}},
		}}, 2},
		{CreateTopic{Name: "t", ID: idA, Partitions: []Partition{
			{Index: 0, Leader: 1, LeaderEpoch: 3, Epoch: 12, Replicas: []int32{1, 2}, ISR: []int32{1}},
			{Index: 1, Leader: -1, Replicas: []int32{2}},
		}, Configs: map[string]string{"retention.ms": "-1", "cleanup.policy": "compact"}}, 2},
		{CreateTopic{Name: "u", ID: idB, Partitions: []Partition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}, 2},
		{DeleteTopic{ID: idA}, 2},
		{CreatePartitions{TopicID: idB, Partitions: []Partition{{Index: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}, 2},
		{SetTopicConfigs{TopicID: idA, Set: map[string]string{"a": ""}, Delete: []string{"b", "c"}}, 2},
		{SetTopicConfigs{TopicID: idA}, 2},
		{SetTopicConfigs{TopicID: idA, Set: map[string]string{"a": "2"}, Delete: []string{"b"}, Guarded: true, Base: map[string]string{"a": "1", "b": "x"}}, 4},
		{SetTopicConfigs{TopicID: idB, Set: map[string]string{"a": "1"}, Guarded: true}, 4},
		{AllocateProducerIDs{Broker: 1, First: 1 << 40, Count: 1000}, 2},
		{AllocateProducerIDs{Broker: -1, First: -5, Count: -9223372036854775808}, 2},
		{SetClusterID{ID: "abcdefghijklmnopqrstuv"}, 2},
		{scramSample("alice", 2), 5},
		{ScramCredential{User: "alice", Mechanism: 1, Delete: true}, 5},
		{Batch{Records: []Record{scramSample("bob", 1), ScramCredential{User: "alice", Mechanism: 2, Delete: true}}}, 5},
		{Batch{Records: []Record{
			RegisterBroker{ID: 4, Host: "h4", Port: 1, Incarnation: idA},
			ChangePartitions{Changes: []PartitionChange{{TopicID: idB, Partition: 0, Epoch: 3, Leader: -1, LeaderEpoch: 2, ISR: []int32{4}}}},
		}}, 2},
		{ReassignPartitions{Changes: []PartitionReassignment{
			{PartitionChange: PartitionChange{TopicID: idA, Partition: 2, Epoch: 5, Leader: 3, LeaderEpoch: 1, ISR: []int32{1, 3}},
				Replicas: []int32{3, 4, 1}, Adding: []int32{4}, Removing: []int32{1}},
			{PartitionChange: PartitionChange{TopicID: idB, Partition: 0, Epoch: 6, Leader: 4, LeaderEpoch: 2, ISR: []int32{4}},
				Replicas: []int32{4}},
		}}, 3},
		{Batch{Records: []Record{ReassignPartitions{Changes: []PartitionReassignment{
			{PartitionChange: PartitionChange{TopicID: idB, Partition: 0, Epoch: 6, Leader: 4, ISR: []int32{4}}, Replicas: []int32{4, 5}, Adding: []int32{5}},
		}}}}, 3},
		{Batch{Records: []Record{DeleteTopic{ID: idA}, SetTopicConfigs{TopicID: idB, Guarded: true, Delete: []string{"a"}, Base: map[string]string{"a": "1"}}}}, 4},
	}
}

// TestRecordRoundTrip encodes each sample record with the lowest version
// that holds it (so a node of an earlier release reads every record that
// needs nothing newer) and decodes it back.
func TestRecordRoundTrip(t *testing.T) {
	for _, sm := range samples() {
		r, want := sm.rec, sm.version
		b := EncodeRecord(r)
		if b[0] != want || kind(b[1]) != r.kind() {
			t.Fatalf("%T: got header % x, want version %d", r, b[:2], want)
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
		{"version 0", []byte{0, byte(kindDeleteTopic)}, ErrUnsupportedVersion},
		{"huge change count", []byte{Version, byte(kindChangePartitions), 0xff, 0xff, 0x03}, ErrCorrupt},
		{"nested batch", append([]byte{Version, byte(kindBatch), 1, 4}, EncodeRecord(Batch{Records: []Record{DeleteTopic{}}})[:4]...), ErrCorrupt},
		{"bad record in batch", []byte{Version, byte(kindBatch), 1, 2, Version, 99}, ErrCorrupt},
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

// scramSample is a well-formed SCRAM credential of user for mechanism.
func scramSample(user string, mechanism int8) ScramCredential {
	size := 32 * int(mechanism)
	return ScramCredential{User: user, Mechanism: mechanism, Salt: []byte("salt-" + user), Iterations: 4096,
		StoredKey: bytes.Repeat([]byte{1}, size), ServerKey: bytes.Repeat([]byte{2}, size)}
}

// FuzzDecodeRecord checks that DecodeRecord never panics and that whatever
// it accepts re-encodes to bytes that decode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, sm := range samples() {
		b := EncodeRecord(sm.rec)
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

// TestDecodeVersion1 checks that records written by the format before
// broker fencing still decode: a registration without an incarnation and
// partitions without a partition epoch.
func TestDecodeVersion1(t *testing.T) {
	reg := []byte{1, byte(kindRegisterBroker), 2, 2, 'h', '1', 0x84, 0x8e, 0x01, 0}
	got, err := DecodeRecord(reg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (RegisterBroker{ID: 1, Host: "h1", Port: 9090}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	topic := append([]byte{1, byte(kindCreatePartitions)}, idA[:]...)
	topic = append(topic, 1, 4, 2, 4, 1, 2, 1, 2)
	got, err = DecodeRecord(topic)
	if err != nil {
		t.Fatal(err)
	}
	want := CreatePartitions{TopicID: idA, Partitions: []Partition{{Index: 2, Leader: 1, LeaderEpoch: 2, Replicas: []int32{1}, ISR: []int32{1}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	img, err := baseImage(t).Apply(10, got.(CreatePartitions))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := img.Topic("a.b"); len(a.Partitions) != 3 {
		t.Fatalf("got %d partitions", len(a.Partitions))
	}
}
