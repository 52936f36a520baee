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
			plans := decideCreateTopics(testImage(t), []TopicSpec{tt.spec}, tt.defaults, seqIDs())
			got := plans[0]
			if !errors.Is(got.result.Err, tt.want) {
				t.Fatalf("got %v, want %v", got.result.Err, tt.want)
			}
			if got.rec != nil || got.result.NumPartitions != -1 || got.result.ReplicationFactor != -1 || got.result.ID != [16]byte{} {
				t.Fatalf("got plan %+v with a record or counts, want neither", got)
			}
			if tt.name == "config validator without code" && !errors.Is(got.result.Err, errNoCode) {
				t.Fatalf("got %v, want the validator's error wrapped", got.result.Err)
			}
		})
	}
}

func TestDecideCreateTopicsDuplicates(t *testing.T) {
	specs := []TopicSpec{
		{Name: "d", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "ok", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "d", NumPartitions: 2, ReplicationFactor: 1},
	}
	plans := decideCreateTopics(testImage(t), specs, testDefaults, seqIDs())
	if len(plans) != 3 {
		t.Fatalf("got %d plans, want 3", len(plans))
	}
	for _, i := range []int{0, 2} {
		if !errors.Is(plans[i].result.Err, kerr.InvalidRequest) || plans[i].result.Name != "d" {
			t.Fatalf("plan %d: got %+v, want INVALID_REQUEST for d", i, plans[i].result)
		}
	}
	if plans[1].result.Err != nil || plans[1].rec == nil {
		t.Fatalf("got %+v, want topic ok planned", plans[1])
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
			p := decideCreateTopics(img, []TopicSpec{tt.spec}, testDefaults, seqIDs())[0]
			if p.result.Err != nil {
				t.Fatal(p.result.Err)
			}
			var got [][]int32
			for i, part := range p.rec.Partitions {
				if part.Index != int32(i) || part.Leader != part.Replicas[0] || part.LeaderEpoch != 0 || !reflect.DeepEqual(part.ISR, part.Replicas) {
					t.Fatalf("partition %d: got %+v, want index %d led by its first replica with full ISR", i, part, i)
				}
				got = append(got, part.Replicas)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got replicas %v, want %v", got, tt.want)
			}
			if p.result.NumPartitions != int32(len(tt.want)) || p.result.ReplicationFactor != tt.wantRF {
				t.Fatalf("got %d partitions rf %d, want %d rf %d", p.result.NumPartitions, p.result.ReplicationFactor, len(tt.want), tt.wantRF)
			}
			if p.result.ID != p.rec.ID || p.rec.ID == [16]byte{} {
				t.Fatalf("got result id %x, record id %x", p.result.ID, p.rec.ID)
			}
			if !reflect.DeepEqual(p.rec.Configs, tt.wantConf) {
				t.Fatalf("got configs %v, want %v", p.rec.Configs, tt.wantConf)
			}
			if _, err := img.Apply(100, *p.rec); err != nil {
				t.Fatalf("the image rejects the planned record: %v", err)
			}
		})
	}
}

func TestDecideDeleteTopics(t *testing.T) {
	unknown := [16]byte{0xee}
	recs, errs := decideDeleteTopics(testImage(t), [][16]byte{idA, unknown, idX, idX})
	if _, ok := recs[idA]; !ok || len(recs) != 1 {
		t.Fatalf("got records %v, want only a.b deleted", recs)
	}
	if !errors.Is(errs[unknown], kerr.UnknownTopicID) {
		t.Fatalf("got %v for an unknown id, want UNKNOWN_TOPIC_ID", errs[unknown])
	}
	if !errors.Is(errs[idX], kerr.InvalidRequest) {
		t.Fatalf("got %v for an id given twice, want INVALID_REQUEST", errs[idX])
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
			recs, errs := decideCreatePartitions(img, []PartitionSpec{tt.spec})
			if !errors.Is(errs[0], tt.want) {
				t.Fatalf("got %v, want %v", errs[0], tt.want)
			}
			if tt.want != nil {
				if recs[0] != nil {
					t.Fatalf("got record %+v with an error", recs[0])
				}
				return
			}
			var got [][]int32
			for _, p := range recs[0].Partitions {
				got = append(got, p.Replicas)
			}
			if !reflect.DeepEqual(got, tt.reps) || recs[0].TopicID != idA {
				t.Fatalf("got %v for %x, want %v", got, recs[0].TopicID, tt.reps)
			}
			if _, err := img.Apply(100, *recs[0]); err != nil {
				t.Fatalf("the image rejects the planned record: %v", err)
			}
		})
	}
	_, errs := decideCreatePartitions(testImage(t), []PartitionSpec{{Topic: "x", Count: 2}, {Topic: "x", Count: 3}})
	for i, err := range errs {
		if !errors.Is(err, kerr.InvalidRequest) {
			t.Fatalf("spec %d: got %v, want INVALID_REQUEST for a topic given twice", i, err)
		}
	}
}

func TestDecideTopicConfigs(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		set   map[string]string
		del   []string
		want  error
	}{
		{"unknown", "nope", map[string]string{"k": "v"}, nil, kerr.UnknownTopicOrPartition},
		{"both", "x", map[string]string{"k": "v"}, []string{"k"}, kerr.InvalidConfig},
		{"empty set key", "x", map[string]string{"": "v"}, nil, kerr.InvalidConfig},
		{"empty delete key", "x", nil, []string{""}, kerr.InvalidConfig},
		{"ok", "x", map[string]string{"k": "v"}, []string{"j"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decideTopicConfigs(testImage(t), tt.topic, tt.set, tt.del)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil && (rec.TopicID != idX || rec.Set["k"] != "v" || rec.Delete[0] != "j") {
				t.Fatalf("got record %+v", rec)
			}
		})
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
