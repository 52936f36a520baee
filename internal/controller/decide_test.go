package controller

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

var (
	idA = [16]byte{0xa}
	idX = [16]byte{0x1}
)

// testImage has brokers 1, 2, 3, topic "a.b" (2 partitions, replication
// factor 2) and topic "x" (1 partition on broker 1).
func testImage(t *testing.T) *metadata.Image {
	t.Helper()
	img := &metadata.Image{}
	apply := func(recs ...metadata.Record) {
		for _, r := range recs {
			var err error
			if img, err = img.Apply(img.AppliedIndex+1, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply(metadata.RegisterBroker{ID: 1, Host: "h", Port: 1},
		metadata.RegisterBroker{ID: 2, Host: "h", Port: 2},
		metadata.RegisterBroker{ID: 3, Host: "h", Port: 3})
	apply(metadata.CreateTopic{Name: "a.b", ID: idA, Partitions: placePartitions(img, []int32{1, 2, 3}, 0, 2, 2, 0)},
		metadata.CreateTopic{Name: "x", ID: idX, Partitions: placePartitions(img, []int32{1}, 0, 1, 1, 0)})
	return img
}

func str(s string) *string { return &s }

var testDefaults = Defaults{NumPartitions: 3, ReplicationFactor: 1}

func seqIDs() func() [16]byte {
	n := byte(0x10)
	return func() [16]byte { n++; return [16]byte{n} }
}

func TestDecideCreateTopicsErrors(t *testing.T) {
	errNoCode := errors.New("bad value")
	tests := []struct {
		name     string
		spec     TopicSpec
		defaults Defaults
		want     error
	}{
		{"empty name", TopicSpec{Name: "", NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.InvalidTopicException},
		{"dot", TopicSpec{Name: ".", NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.InvalidTopicException},
		{"dot dot", TopicSpec{Name: "..", NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.InvalidTopicException},
		{"space", TopicSpec{Name: "a b", NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.InvalidTopicException},
		{"too long", TopicSpec{Name: strings.Repeat("a", 250), NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.InvalidTopicException},
		{"exists", TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.TopicAlreadyExists},
		{"collides", TopicSpec{Name: "a_b", NumPartitions: -1, ReplicationFactor: -1}, testDefaults, kerr.InvalidTopicException},
		{"zero partitions", TopicSpec{Name: "n", NumPartitions: 0, ReplicationFactor: -1}, testDefaults, kerr.InvalidPartitions},
		{"negative partitions", TopicSpec{Name: "n", NumPartitions: -2, ReplicationFactor: -1}, testDefaults, kerr.InvalidPartitions},
		{"too many partitions", TopicSpec{Name: "n", NumPartitions: MaxPartitionsPerTopic + 1, ReplicationFactor: -1}, testDefaults, kerr.InvalidPartitions},
		{"bad default partitions", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1}, Defaults{ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"zero replication", TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: 0}, testDefaults, kerr.InvalidReplicationFactor},
		{"negative replication", TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: -3}, testDefaults, kerr.InvalidReplicationFactor},
		{"replication above brokers", TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: 4}, testDefaults, kerr.InvalidReplicationFactor},
		{"default replication above brokers", TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: -1}, Defaults{NumPartitions: 1, ReplicationFactor: 5}, kerr.InvalidReplicationFactor},
		{"assignment with count", TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}}}, testDefaults, kerr.InvalidRequest},
		{"assignment with factor", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: 1, Assignments: map[int32][]int32{0: {1}}}, testDefaults, kerr.InvalidRequest},
		{"assignment gap", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 2: {2}}}, testDefaults, kerr.InvalidReplicaAssignment},
		{"assignment negative", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{-1: {1}}}, testDefaults, kerr.InvalidReplicaAssignment},
		{"assignment empty", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {}}}, testDefaults, kerr.InvalidReplicaAssignment},
		{"assignment uneven", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 2}, 1: {3}}}, testDefaults, kerr.InvalidReplicaAssignment},
		{"assignment duplicate broker", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 1}}}, testDefaults, kerr.InvalidReplicaAssignment},
		{"assignment unknown broker", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {9}}}, testDefaults, kerr.InvalidReplicaAssignment},
		{"null config", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Configs: map[string]*string{"retention.ms": nil}}, testDefaults, kerr.InvalidConfig},
		{"config validator without code", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Configs: map[string]*string{"k": str("v")}},
			Defaults{NumPartitions: 1, ReplicationFactor: 1, ValidateConfigs: func(map[string]*string) error { return errNoCode }}, kerr.InvalidConfig},
		{"config validator with code", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Configs: map[string]*string{"k": str("v")}},
			Defaults{NumPartitions: 1, ReplicationFactor: 1, ValidateConfigs: func(map[string]*string) error { return kerr.PolicyViolation }}, kerr.PolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decideCreateTopic(testImage(t), tt.spec, tt.defaults, 0, seqIDs())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(rec, metadata.CreateTopic{}) {
				t.Fatalf("got record %+v with the error, want none", rec)
			}
			if res := topicResult(tt.spec.Name, rec, err); res.NumPartitions != -1 || res.ReplicationFactor != -1 || res.ID != [16]byte{} {
				t.Fatalf("got result %+v with counts or an id, want neither", res)
			}
			if tt.name == "config validator without code" && !errors.Is(err, errNoCode) {
				t.Fatalf("got %v, want the validator's error wrapped", err)
			}
		})
	}
}

func TestDecideCreateTopicsPlacement(t *testing.T) {
	img := testImage(t)
	tests := []struct {
		name     string
		spec     TopicSpec
		want     [][]int32 // replicas per partition, leader first
		wantRF   int16
		wantConf map[string]string
	}{
		{"defaults", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1}, [][]int32{{1}, {2}, {3}}, 1, nil},
		{"round robin rf 2", TopicSpec{Name: "n", NumPartitions: 4, ReplicationFactor: 2}, [][]int32{{1, 2}, {2, 3}, {3, 1}, {1, 2}}, 2, nil},
		{"rf 3", TopicSpec{Name: "n", NumPartitions: 2, ReplicationFactor: 3}, [][]int32{{1, 2, 3}, {2, 3, 1}}, 3, nil},
		{"manual", TopicSpec{Name: "n", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{1: {3, 1}, 0: {2, 3}}}, [][]int32{{2, 3}, {3, 1}}, 2, nil},
		{"configs", TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]*string{"cleanup.policy": str("compact")}}, [][]int32{{1}}, 1, map[string]string{"cleanup.policy": "compact"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decideCreateTopic(img, tt.spec, testDefaults, 0, seqIDs())
			if err != nil {
				t.Fatal(err)
			}
			res := topicResult(tt.spec.Name, rec, nil)
			var got [][]int32
			for i, part := range rec.Partitions {
				if part.Index != int32(i) || part.Leader != part.Replicas[0] || part.LeaderEpoch != 0 || !reflect.DeepEqual(part.ISR, part.Replicas) {
					t.Fatalf("partition %d: got %+v, want index %d led by its first replica with full ISR", i, part, i)
				}
				got = append(got, part.Replicas)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got replicas %v, want %v", got, tt.want)
			}
			if res.NumPartitions != int32(len(tt.want)) || res.ReplicationFactor != tt.wantRF {
				t.Fatalf("got %d partitions rf %d, want %d rf %d", res.NumPartitions, res.ReplicationFactor, len(tt.want), tt.wantRF)
			}
			if res.ID != rec.ID || rec.ID == [16]byte{} {
				t.Fatalf("got result id %x, record id %x", res.ID, rec.ID)
			}
			if !reflect.DeepEqual(rec.Configs, tt.wantConf) {
				t.Fatalf("got configs %v, want %v", rec.Configs, tt.wantConf)
			}
			if _, err := img.Apply(100, rec); err != nil {
				t.Fatalf("the image rejects the planned record: %v", err)
			}
		})
	}
}

func TestDecideDeleteTopic(t *testing.T) {
	img := testImage(t)
	if rec, err := decideDeleteTopic(img, idA); err != nil || rec.ID != idA {
		t.Fatalf("got %+v, %v; want a.b deleted", rec, err)
	}
	if _, err := decideDeleteTopic(img, [16]byte{0xee}); !errors.Is(err, kerr.UnknownTopicID) {
		t.Fatalf("got %v for an unknown id, want UNKNOWN_TOPIC_ID", err)
	}
}

func TestDecideCreatePartitions(t *testing.T) {
	tests := []struct {
		name string
		spec PartitionSpec
		want error
		reps [][]int32
	}{
		{"unknown topic", PartitionSpec{Topic: "nope", Count: 3}, kerr.UnknownTopicOrPartition, nil},
		{"fewer", PartitionSpec{Topic: "a.b", Count: 1}, kerr.InvalidPartitions, nil},
		{"same", PartitionSpec{Topic: "a.b", Count: 2}, kerr.InvalidPartitions, nil},
		{"too many", PartitionSpec{Topic: "a.b", Count: MaxPartitionsPerTopic + 1}, kerr.InvalidPartitions, nil},
		{"assignment count", PartitionSpec{Topic: "a.b", Count: 4, Assignments: [][]int32{{1, 2}}}, kerr.InvalidReplicaAssignment, nil},
		{"assignment factor", PartitionSpec{Topic: "a.b", Count: 3, Assignments: [][]int32{{1}}}, kerr.InvalidReplicaAssignment, nil},
		{"assignment unknown broker", PartitionSpec{Topic: "a.b", Count: 3, Assignments: [][]int32{{1, 7}}}, kerr.InvalidReplicaAssignment, nil},
		{"assignment duplicate", PartitionSpec{Topic: "a.b", Count: 3, Assignments: [][]int32{{2, 2}}}, kerr.InvalidReplicaAssignment, nil},
		{"automatic", PartitionSpec{Topic: "a.b", Count: 4}, nil, [][]int32{{3, 1}, {1, 2}}},
		{"manual", PartitionSpec{Topic: "a.b", Count: 3, Assignments: [][]int32{{3, 2}}}, nil, [][]int32{{3, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := testImage(t)
			rec, err := decidePartitions(img, tt.spec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			var got [][]int32
			for _, p := range rec.Partitions {
				got = append(got, p.Replicas)
			}
			if !reflect.DeepEqual(got, tt.reps) || rec.TopicID != idA {
				t.Fatalf("got %v for %x, want %v", got, rec.TopicID, tt.reps)
			}
			if _, err := img.Apply(100, rec); err != nil {
				t.Fatalf("the image rejects the planned record: %v", err)
			}
		})
	}
}

// TestDecideConfigs: a config change is the difference between the
// overrides and what the caller's function makes of them, guarded by the
// overrides it was decided on.
func TestDecideConfigs(t *testing.T) {
	img, err := testImage(t).Apply(100, metadata.SetTopicConfigs{TopicID: idX, Set: map[string]string{"a": "1", "b": "2", "c": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	to := func(next map[string]string) ConfigAlter {
		return func(map[string]string) (map[string]string, error) { return next, nil }
	}
	tests := []struct {
		name  string
		topic string
		alter ConfigAlter
		set   map[string]string
		del   []string
		want  error
	}{
		{"unknown topic", "nope", to(nil), nil, nil, kerr.UnknownTopicOrPartition},
		{"the caller's error", "x", func(map[string]string) (map[string]string, error) { return nil, kerr.PolicyViolation }, nil, nil, kerr.PolicyViolation},
		{"empty key", "x", to(map[string]string{"": "v"}), nil, nil, kerr.InvalidConfig},
		{"the same overrides", "x", to(map[string]string{"a": "1", "b": "2", "c": "3"}), nil, nil, errNoChange},
		{"set, change and delete", "x", to(map[string]string{"a": "1", "b": "20", "d": "4"}), map[string]string{"b": "20", "d": "4"}, []string{"c"}, nil},
		{"delete all", "x", to(nil), map[string]string{}, []string{"a", "b", "c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decideTopicConfigs(img, tt.topic, tt.alter)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			cur, _ := img.Topic("x")
			if rec.TopicID != idX || !reflect.DeepEqual(rec.Set, tt.set) || !reflect.DeepEqual(rec.Delete, tt.del) ||
				!rec.Guarded || !reflect.DeepEqual(rec.Base, cur.Configs) {
				t.Fatalf("got record %+v, want set %v, delete %v, guarded by %v", rec, tt.set, tt.del, cur.Configs)
			}
		})
	}
	// Broker settings are decided the same way, on the broker's.
	rec, err := decideBrokerConfigs(img, 2, to(map[string]string{"log.retention.ms": "1"}))
	if err != nil || rec.Broker != 2 || rec.Set["log.retention.ms"] != "1" || !rec.Guarded || rec.Base != nil {
		t.Fatalf("got %+v, %v; want broker 2's setting, guarded by none", rec, err)
	}
}

func TestNewTopicIDIsUUIDv4(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 100 {
		id := newTopicID()
		if id[6]>>4 != 4 || id[8]>>6 != 2 {
			t.Fatalf("got %x, want version 4 variant 10", id)
		}
		if seen[id] {
			t.Fatalf("id %x repeated", id)
		}
		seen[id] = true
	}
}
