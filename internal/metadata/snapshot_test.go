package metadata

import (
	"bytes"
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/stratalog/strata/internal/auth"
)

func TestSnapshotRoundTrip(t *testing.T) {
	img := baseImage(t)
	img, err := img.Apply(6, AllocateProducerIDs{Broker: 1, First: 0, Count: 42})
	if err != nil {
		t.Fatal(err)
	}
	if img, err = img.Apply(7, RegisterBroker{ID: 3, Host: "h3", Port: 3, Rack: "r3", Incarnation: idC}); err != nil {
		t.Fatal(err)
	}
	if img, err = img.Apply(8, ChangePartitions{Changes: []PartitionChange{{TopicID: idA, Partition: 1, Epoch: 0, Leader: 2, ISR: []int32{2}}}}); err != nil {
		t.Fatal(err)
	}
	moving, err := img.Apply(9, ReassignPartitions{Changes: []PartitionReassignment{{
		PartitionChange: PartitionChange{TopicID: idA, Partition: 0, Epoch: 0, Leader: 1, ISR: []int32{1, 2}},
		Replicas:        []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	configured, err := img.Apply(10, SetBrokerConfigs{Broker: ClusterDefault, Set: map[string]string{"log.retention.ms": "7"}})
	if err == nil {
		configured, err = configured.Apply(11, SetBrokerConfigs{Broker: 2, Set: map[string]string{"message.max.bytes": "9"}})
	}
	if err != nil {
		t.Fatal(err)
	}
	addressed, err := configured.Apply(12, SetControllerAddr{ID: 4, Addr: "127.0.0.1:9196"})
	if err != nil {
		t.Fatal(err)
	}
	listening, err := addressed.Apply(13, RegisterBroker{ID: 3, Host: "h3", Port: 3, Incarnation: idC,
		Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "h3", Port: 3}, {Name: "SASL_SSL", Host: "h3", Port: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	guarded, err := addressed.Apply(13, SetACLs{Create: []ACL{aclSample(idA, "orders", auth.PatternLiteral), aclSample(idB, "logs-", auth.PatternPrefixed)}})
	if err != nil {
		t.Fatal(err)
	}
	quotas, err := guarded.Apply(14, SetClientQuotas{Entity: QuotaEntity{User: QuotaName{Kind: QuotaDefault}},
		Set: map[string]float64{"producer_byte_rate": 1e6}})
	if err == nil {
		quotas, err = quotas.Apply(15, SetClientQuotas{Entity: QuotaEntity{User: Named("u"), ClientID: Named("c")},
			Set: map[string]float64{"consumer_byte_rate": 5, "request_percentage": 0.5}})
	}
	if err != nil {
		t.Fatal(err)
	}
	credentialed, err := img.Apply(16, Batch{Records: []Record{scramSample("bob", 2), scramSample("alice", 1), scramSample("alice", 2)}})
	if err != nil {
		t.Fatal(err)
	}
	secured, err := quotas.Apply(16, Batch{Records: []Record{scramSample("bob", 2), scramSample("alice", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []*Image{{}, img, moving, configured, addressed, listening, guarded, quotas, credentialed, secured} {
		b, err := src.EncodeSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got.ClusterID != src.ClusterID || got.NextProducerID != src.NextProducerID || got.AppliedIndex != src.AppliedIndex {
			t.Fatalf("got %q/%d/%d, want %q/%d/%d", got.ClusterID, got.NextProducerID, got.AppliedIndex,
				src.ClusterID, src.NextProducerID, src.AppliedIndex)
		}
		if !reflect.DeepEqual(got.Brokers(), src.Brokers()) {
			t.Fatalf("got brokers %v, want %v", got.Brokers(), src.Brokers())
		}
		if len(got.Topics()) != len(src.Topics()) {
			t.Fatalf("got %d topics, want %d", len(got.Topics()), len(src.Topics()))
		}
		for _, want := range src.Topics() {
			gt, ok := got.TopicByID(want.ID)
			if !ok || !reflect.DeepEqual(gt, want) {
				t.Fatalf("got topic %+v, want %+v", gt, want)
			}
		}
		again, _ := got.EncodeSnapshot()
		if !bytes.Equal(again, b) {
			t.Fatal("re-encoding differs")
		}
		for _, id := range []int32{ClusterDefault, 1, 2} {
			if !reflect.DeepEqual(got.BrokerConfigs(id), src.BrokerConfigs(id)) {
				t.Fatalf("broker %d settings: got %v, want %v", id, got.BrokerConfigs(id), src.BrokerConfigs(id))
			}
		}
		if !reflect.DeepEqual(got.ACLs(), src.ACLs()) {
			t.Fatalf("ACLs: got %v, want %v", got.ACLs(), src.ACLs())
		}
		if !reflect.DeepEqual(got.ScramCredentials(), src.ScramCredentials()) {
			t.Fatalf("SCRAM credentials: got %v, want %v", got.ScramCredentials(), src.ScramCredentials())
		}
		if !maps.Equal(got.ControllerAddrs(), src.ControllerAddrs()) {
			t.Fatalf("controller addresses: got %v, want %v", got.ControllerAddrs(), src.ControllerAddrs())
		}
		if !maps.EqualFunc(got.ClientQuotas(), src.ClientQuotas(), maps.Equal) {
			t.Fatalf("client quotas: got %v, want %v", got.ClientQuotas(), src.ClientQuotas())
		}
		// Only a reassignment in progress or dynamic settings need
		// version 3, only controller addresses version 4, only broker
		// listeners, ACLs or client quotas version 5.
		want := baseVersion
		switch src {
		case moving, configured:
			want = reassignVersion
		case addressed:
			want = guardVersion
		case listening, guarded, quotas, credentialed, secured:
			want = securityVersion
		}
		if b[0] != want {
			t.Fatalf("snapshot version %d, want %d", b[0], want)
		}
	}
}

func TestDecodeSnapshotErrors(t *testing.T) {
	img := baseImage(t)
	valid, _ := img.EncodeSnapshot()
	// A snapshot listing topic z twice.
	twice := &Image{}
	*twice = *img.clone()
	zt, _ := img.Topic("z")
	dup := *zt
	dup.Name = "y"
	twice.putTopic(&dup) // same id as z
	dupID, _ := twice.EncodeSnapshot()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"record kind", EncodeRecord(SetClusterID{ID: "x"}), ErrCorrupt},
		{"bad version", append([]byte{7}, valid[1:]...), ErrUnsupportedVersion},
		{"truncated", valid[:len(valid)-3], ErrCorrupt},
		{"trailing", append(bytes.Clone(valid), 1), ErrCorrupt},
		{"duplicate topic id", dupID, ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeSnapshot(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzDecodeSnapshot checks that DecodeSnapshot never panics and that an
// accepted snapshot re-encodes to the same bytes after one round trip.
func FuzzDecodeSnapshot(f *testing.F) {
	img := &Image{}
	var err error
	for i, r := range []Record{
		SetClusterID{ID: "c"},
		RegisterBroker{ID: 1, Host: "h", Port: 1},
		CreateTopic{Name: "t", ID: idA, Partitions: []Partition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}, Configs: map[string]string{"k": "v"}},
	} {
		if img, err = img.Apply(uint64(i+1), r); err != nil {
			f.Fatal(err)
		}
	}
	b, _ := img.EncodeSnapshot()
	f.Add(b)
	f.Add(b[:len(b)-1])
	// A version 3 snapshot: a reassignment in progress, dynamic settings.
	for i, r := range []Record{
		RegisterBroker{ID: 2, Host: "h", Port: 2},
		ReassignPartitions{Changes: []PartitionReassignment{{PartitionChange: PartitionChange{TopicID: idA, Leader: 1, ISR: []int32{1}},
			Replicas: []int32{2, 1}, Adding: []int32{2}, Removing: []int32{1}}}},
		SetBrokerConfigs{Broker: ClusterDefault, Set: map[string]string{"message.max.bytes": "9"}},
	} {
		if img, err = img.Apply(uint64(i+10), r); err != nil {
			f.Fatal(err)
		}
	}
	v3, _ := img.EncodeSnapshot()
	f.Add(v3)
	if img, err = img.Apply(20, SetACLs{Create: []ACL{aclSample(idB, "t", auth.PatternPrefixed)}}); err != nil {
		f.Fatal(err)
	}
	v5, _ := img.EncodeSnapshot()
	f.Add(v5)
	empty, _ := (&Image{}).EncodeSnapshot()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		enc, err := img.EncodeSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeSnapshot(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, _ := again.EncodeSnapshot()
		if !bytes.Equal(enc, enc2) {
			t.Fatal("snapshot encoding not stable")
		}
	})
}
