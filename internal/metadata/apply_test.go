package metadata

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	idA = [16]byte{0xa}
	idB = [16]byte{0xb}
	idC = [16]byte{0xc}
)

func part(index, leader int32, replicas ...int32) Partition {
	return Partition{Index: index, Leader: leader, Replicas: replicas, ISR: replicas}
}

// baseImage has brokers 1 and 2, topic "a.b" (id A, 2 partitions, a config)
// and topic "z" (id B).
func baseImage(t *testing.T) *Image {
	t.Helper()
	recs := []Record{
		SetClusterID{ID: "cluster"},
		RegisterBroker{ID: 1, Host: "h1", Port: 9092},
		RegisterBroker{ID: 2, Host: "h2", Port: 9092, Rack: "r"},
		CreateTopic{Name: "a.b", ID: idA, Partitions: []Partition{part(0, 1, 1, 2), part(1, 2, 2, 1)}, Configs: map[string]string{"retention.ms": "1"}},
		CreateTopic{Name: "z", ID: idB, Partitions: []Partition{part(0, 1, 1)}},
	}
	img := &Image{}
	for i, r := range recs {
		next, err := img.Apply(uint64(i+1), r)
		if err != nil {
			t.Fatalf("apply %T: %v", r, err)
		}
		img = next
	}
	return img
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name  string
		index uint64
		rec   Record
		want  error
	}{
		{"stale index", 5, SetClusterID{ID: "cluster"}, ErrStaleIndex},
		{"empty cluster id", 10, SetClusterID{}, ErrInvalidRecord},
		{"other cluster id", 10, SetClusterID{ID: "other"}, ErrInvalidRecord},
		{"broker negative id", 10, RegisterBroker{ID: -1, Host: "h", Port: 1}, ErrInvalidRecord},
		{"broker no host", 10, RegisterBroker{ID: 3, Port: 1}, ErrInvalidRecord},
		{"broker bad port", 10, RegisterBroker{ID: 3, Host: "h", Port: 70000}, ErrInvalidRecord},
		{"controller address without port", 10, SetControllerAddr{ID: 4, Addr: "h"}, ErrInvalidRecord},
		{"controller address without host", 10, SetControllerAddr{ID: 4, Addr: ":9193"}, ErrInvalidRecord},
		{"controller address of a negative id", 10, SetControllerAddr{ID: -1, Addr: "h:1"}, ErrInvalidRecord},
		{"create bad name", 10, CreateTopic{Name: "a/b", ID: idC, Partitions: []Partition{part(0, 1, 1)}}, kerr.InvalidTopicException},
		{"create dot name", 10, CreateTopic{Name: "..", ID: idC, Partitions: []Partition{part(0, 1, 1)}}, kerr.InvalidTopicException},
		{"create zero id", 10, CreateTopic{Name: "c", Partitions: []Partition{part(0, 1, 1)}}, ErrInvalidRecord},
		{"create existing name", 10, CreateTopic{Name: "z", ID: idC, Partitions: []Partition{part(0, 1, 1)}}, kerr.TopicAlreadyExists},
		{"create existing id", 10, CreateTopic{Name: "c", ID: idA, Partitions: []Partition{part(0, 1, 1)}}, kerr.TopicAlreadyExists},
		{"create colliding name", 10, CreateTopic{Name: "a_b", ID: idC, Partitions: []Partition{part(0, 1, 1)}}, kerr.InvalidTopicException},
		{"create no partitions", 10, CreateTopic{Name: "c", ID: idC}, kerr.InvalidPartitions},
		{"create gap in indexes", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{part(1, 1, 1)}}, kerr.InvalidPartitions},
		{"create no replicas", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{{Leader: -1}}}, kerr.InvalidReplicaAssignment},
		{"create duplicate replica", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{part(0, 1, 1, 1)}}, kerr.InvalidReplicaAssignment},
		{"create unknown broker", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{part(0, 1, 1, 7)}}, kerr.InvalidReplicaAssignment},
		{"create leader not replica", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{part(0, 2, 1)}}, kerr.InvalidReplicaAssignment},
		{"create negative epoch", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{{Leader: 1, LeaderEpoch: -1, Replicas: []int32{1}}}}, kerr.InvalidReplicaAssignment},
		{"create isr outside replicas", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{2}}}}, kerr.InvalidReplicaAssignment},
		{"create isr duplicate", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1, 1}}}}, kerr.InvalidReplicaAssignment},
		{"create empty config key", 10, CreateTopic{Name: "c", ID: idC, Partitions: []Partition{part(0, 1, 1)}, Configs: map[string]string{"": "x"}}, kerr.InvalidConfig},
		{"delete unknown", 10, DeleteTopic{ID: idC}, kerr.UnknownTopicID},
		{"partitions unknown topic", 10, CreatePartitions{TopicID: idC, Partitions: []Partition{part(0, 1, 1)}}, kerr.UnknownTopicID},
		{"partitions none", 10, CreatePartitions{TopicID: idA}, kerr.InvalidPartitions},
		{"partitions wrong index", 10, CreatePartitions{TopicID: idA, Partitions: []Partition{part(1, 1, 1)}}, kerr.InvalidPartitions},
		{"partitions bad replicas", 10, CreatePartitions{TopicID: idA, Partitions: []Partition{part(2, 1, 9)}}, kerr.InvalidReplicaAssignment},
		{"configs unknown topic", 10, SetTopicConfigs{TopicID: idC, Set: map[string]string{"k": "v"}}, kerr.UnknownTopicID},
		{"configs set and delete", 10, SetTopicConfigs{TopicID: idA, Set: map[string]string{"k": "v"}, Delete: []string{"k"}}, kerr.InvalidConfig},
		{"configs empty delete", 10, SetTopicConfigs{TopicID: idA, Delete: []string{""}}, kerr.InvalidConfig},
		{"pids wrong first", 10, AllocateProducerIDs{Broker: 1, First: 5, Count: 10}, ErrInvalidRecord},
		{"pids zero count", 10, AllocateProducerIDs{Broker: 1, First: 0, Count: 0}, ErrInvalidRecord},
		{"pids unknown broker", 10, AllocateProducerIDs{Broker: 9, First: 0, Count: 10}, ErrInvalidRecord},
		{"nil record", 10, nil, ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := baseImage(t)
			before, _ := img.EncodeSnapshot()
			got, err := img.Apply(tt.index, tt.rec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if got != img {
				t.Fatalf("got a new image on error, want the unchanged one")
			}
			after, _ := img.EncodeSnapshot()
			if string(before) != string(after) {
				t.Fatalf("image changed by a rejected record")
			}
		})
	}
}

func TestApplyOverflowProducerIDs(t *testing.T) {
	img := baseImage(t)
	img, err := img.Apply(10, AllocateProducerIDs{Broker: 1, First: 0, Count: math.MaxInt64 - 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Apply(11, AllocateProducerIDs{Broker: 1, First: math.MaxInt64 - 10, Count: 11}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("got %v, want ErrInvalidRecord for an overflowing block", err)
	}
	if _, err := img.Apply(11, AllocateProducerIDs{Broker: 1, First: math.MaxInt64 - 10, Count: 10}); err != nil {
		t.Fatalf("got %v, want the last block to fit", err)
	}
}

func TestApplyHappyPaths(t *testing.T) {
	tests := []struct {
		name  string
		rec   Record
		check func(t *testing.T, old, img *Image)
	}{
		{"register new broker", RegisterBroker{ID: 3, Host: "h3", Port: 1}, func(t *testing.T, old, img *Image) {
			if got := len(img.Brokers()); got != 3 {
				t.Fatalf("got %d brokers, want 3", got)
			}
			if _, ok := old.Broker(3); ok {
				t.Fatal("old image sees the new broker")
			}
		}},
		{"re-register broker", RegisterBroker{ID: 1, Host: "moved", Port: 1}, func(t *testing.T, old, img *Image) {
			if b, _ := img.Broker(1); b.Host != "moved" {
				t.Fatalf("got host %q, want moved", b.Host)
			}
		}},
		{"register incarnation", RegisterBroker{ID: 1, Host: "h1", Port: 1, Incarnation: idC}, func(t *testing.T, old, img *Image) {
			b, _ := img.Broker(1)
			if !b.Fenced || b.Epoch != 10 || b.Incarnation != idC || img.Unfenced(1) {
				t.Fatalf("got %+v, want fenced at epoch 10", b)
			}
			if o, _ := old.Broker(1); o.Fenced {
				t.Fatal("old image changed")
			}
		}},
		{"same cluster id", SetClusterID{ID: "cluster"}, func(t *testing.T, old, img *Image) {
			if img.ClusterID != "cluster" {
				t.Fatalf("got %q", img.ClusterID)
			}
		}},
		{"create topic", CreateTopic{Name: "c", ID: idC, Partitions: []Partition{part(0, 1, 1)}}, func(t *testing.T, old, img *Image) {
			c, ok := img.Topic("c")
			if !ok || c.ID != idC {
				t.Fatalf("got %v %v, want topic c", c, ok)
			}
			if byID, _ := img.TopicByID(idC); byID != c {
				t.Fatal("by id and by name differ")
			}
			a1, _ := old.Topic("a.b")
			a2, _ := img.Topic("a.b")
			if a1 != a2 {
				t.Fatal("unchanged topic not shared")
			}
			names := []string{}
			for _, tp := range img.Topics() {
				names = append(names, tp.Name)
			}
			if got := strings.Join(names, ","); got != "a.b,c,z" {
				t.Fatalf("got topics %s, want a.b,c,z", got)
			}
		}},
		{"delete topic", DeleteTopic{ID: idA}, func(t *testing.T, old, img *Image) {
			if _, ok := img.Topic("a.b"); ok {
				t.Fatal("topic still there by name")
			}
			if _, ok := img.TopicByID(idA); ok {
				t.Fatal("topic still there by id")
			}
			if _, ok := old.Topic("a.b"); !ok {
				t.Fatal("old image lost the topic")
			}
		}},
		{"create partitions", CreatePartitions{TopicID: idA, Partitions: []Partition{part(2, 1, 1), part(3, 2, 2)}}, func(t *testing.T, old, img *Image) {
			a, _ := img.Topic("a.b")
			if len(a.Partitions) != 4 || a.Partitions[3].Leader != 2 {
				t.Fatalf("got partitions %+v, want 4", a.Partitions)
			}
			if a.Configs["retention.ms"] != "1" {
				t.Fatal("configs lost")
			}
			if o, _ := old.Topic("a.b"); len(o.Partitions) != 2 {
				t.Fatalf("old image has %d partitions, want 2", len(o.Partitions))
			}
		}},
		{"set configs", SetTopicConfigs{TopicID: idA, Set: map[string]string{"cleanup.policy": "compact"}, Delete: []string{"retention.ms", "absent"}}, func(t *testing.T, old, img *Image) {
			a, _ := img.Topic("a.b")
			if len(a.Configs) != 1 || a.Configs["cleanup.policy"] != "compact" {
				t.Fatalf("got configs %v", a.Configs)
			}
			if o, _ := old.Topic("a.b"); o.Configs["retention.ms"] != "1" || len(o.Configs) != 1 {
				t.Fatalf("old configs changed: %v", o.Configs)
			}
		}},
		{"delete all configs", SetTopicConfigs{TopicID: idA, Delete: []string{"retention.ms"}}, func(t *testing.T, old, img *Image) {
			if a, _ := img.Topic("a.b"); a.Configs != nil {
				t.Fatalf("got configs %v, want nil", a.Configs)
			}
		}},
		{"allocate producer ids", AllocateProducerIDs{Broker: 2, First: 0, Count: 1000}, func(t *testing.T, old, img *Image) {
			if img.NextProducerID != 1000 || old.NextProducerID != 0 {
				t.Fatalf("got next %d (old %d), want 1000 (0)", img.NextProducerID, old.NextProducerID)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := baseImage(t)
			img, err := old.Apply(10, tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if img.AppliedIndex != 10 || old.AppliedIndex != 5 {
				t.Fatalf("got applied %d (old %d), want 10 (5)", img.AppliedIndex, old.AppliedIndex)
			}
			tt.check(t, old, img)
		})
	}
}

// TestBrokerLifecycle registers, unfences, re-registers the same process,
// fences, and registers a new process of one broker.
func TestBrokerLifecycle(t *testing.T) {
	img := baseImage(t)
	steps := []struct {
		rec         Record
		wantErr     error
		epoch       int64
		fenced      bool
		incarnation [16]byte
	}{
		{RegisterBroker{ID: 3, Host: "h3", Port: 1, Incarnation: idA}, nil, 6, true, idA},
		{UnfenceBroker{ID: 3, Epoch: 5}, kerr.StaleBrokerEpoch, 6, true, idA},
		{UnfenceBroker{ID: 3, Epoch: 6}, nil, 6, false, idA},
		{UnfenceBroker{ID: 3, Epoch: 6}, nil, 6, false, idA},
		{RegisterBroker{ID: 3, Host: "h3b", Port: 2, Incarnation: idA}, nil, 6, false, idA},
		{FenceBroker{ID: 3, Epoch: 6}, nil, 6, true, idA},
		{RegisterBroker{ID: 3, Host: "h3", Port: 1, Incarnation: idB}, nil, 12, true, idB},
		{FenceBroker{ID: 4, Epoch: 6}, kerr.StaleBrokerEpoch, 12, true, idB},
		{UnfenceBroker{ID: 3, Epoch: 12}, nil, 12, false, idB},
	}
	for i, st := range steps {
		next, err := img.Apply(uint64(6+i), st.rec)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d %#v: got error %v, want %v", i, st.rec, err, st.wantErr)
		}
		img = next
		b, _ := img.Broker(3)
		if b.Epoch != st.epoch || b.Fenced != st.fenced || b.Incarnation != st.incarnation {
			t.Fatalf("step %d %#v: got %+v, want epoch %d fenced %v", i, st.rec, b, st.epoch, st.fenced)
		}
	}
}

func TestUnregisterBroker(t *testing.T) {
	img, err := baseImage(t).Apply(6, RegisterBroker{ID: 3, Host: "h3", Port: 1, Incarnation: idA})
	if err != nil {
		t.Fatal(err)
	}
	// The controller address goes with the broker.
	if img, err = img.Apply(7, SetControllerAddr{ID: 3, Addr: "h3:2"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rec  UnregisterBroker
		want error
	}{
		{UnregisterBroker{ID: 9, Epoch: 6}, kerr.BrokerIDNotRegistered},
		{UnregisterBroker{ID: 3, Epoch: 5}, kerr.StaleBrokerEpoch},
		{UnregisterBroker{ID: 1, Epoch: 2}, kerr.InvalidRequest}, // it holds replicas
	} {
		if _, err := img.Apply(8, tt.rec); !errors.Is(err, tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.rec, err, tt.want)
		}
	}
	next, err := img.Apply(8, UnregisterBroker{ID: 3, Epoch: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := next.Broker(3); ok {
		t.Fatal("broker 3 still registered")
	}
	if addr, ok := next.ControllerAddrs()[3]; ok || img.ControllerAddrs()[3] != "h3:2" {
		t.Fatalf("controller address of broker 3: %q after unregistering, %q before", addr, img.ControllerAddrs()[3])
	}
	if _, ok := img.Broker(3); !ok {
		t.Fatal("the old image changed")
	}
}

func TestSetBrokerConfigs(t *testing.T) {
	img := baseImage(t)
	next, err := img.Apply(6, SetBrokerConfigs{Broker: ClusterDefault, Set: map[string]string{"a": "1", "b": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	next, err = next.Apply(7, SetBrokerConfigs{Broker: ClusterDefault, Set: map[string]string{"a": "3"}, Delete: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := next.BrokerConfigs(ClusterDefault); !reflect.DeepEqual(got, map[string]string{"a": "3"}) {
		t.Fatalf("got %v", got)
	}
	if img.BrokerConfigs(ClusterDefault) != nil {
		t.Fatal("the old image changed")
	}
	next, err = next.Apply(8, SetBrokerConfigs{Broker: ClusterDefault, Delete: []string{"a"}})
	if err != nil || next.BrokerConfigs(ClusterDefault) != nil {
		t.Fatalf("after deleting every key: %v, %v", next.BrokerConfigs(ClusterDefault), err)
	}
	for _, bad := range []SetBrokerConfigs{
		{Broker: -2, Set: map[string]string{"a": "1"}},
		{Broker: 1, Set: map[string]string{"a": "1"}, Delete: []string{"a"}},
		{Broker: 1, Set: map[string]string{"": "1"}},
	} {
		if _, err := img.Apply(6, bad); err == nil {
			t.Errorf("%+v applied", bad)
		}
	}
}

// TestGuardedConfigChanges: a guarded change applies only on the overrides
// it was decided on; an unguarded one (format versions 2 and 3, replayed
// from an older log) applies on any, as it always did.
func TestGuardedConfigChanges(t *testing.T) {
	img := baseImage(t) // a.b has retention.ms=1; no broker settings
	img, err := img.Apply(6, SetBrokerConfigs{Broker: 1, Set: map[string]string{"log.retention.ms": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{"k": "v"}
	topic := func(base map[string]string) SetTopicConfigs {
		return SetTopicConfigs{TopicID: idA, Set: set, Guarded: true, Base: base}
	}
	broker := func(id int32, base map[string]string) SetBrokerConfigs {
		return SetBrokerConfigs{Broker: id, Set: set, Guarded: true, Base: base}
	}
	topicConfigs := func(img *Image) map[string]string { a, _ := img.Topic("a.b"); return a.Configs }
	brokerConfigs := func(id int32) func(*Image) map[string]string {
		return func(img *Image) map[string]string { return img.BrokerConfigs(id) }
	}
	tests := []struct {
		name string
		rec  Record
		of   func(*Image) map[string]string // the overrides rec changes
		want error
	}{
		{"topic on its overrides", topic(map[string]string{"retention.ms": "1"}), topicConfigs, nil},
		{"topic on a changed value", topic(map[string]string{"retention.ms": "2"}), topicConfigs, kerr.InvalidUpdateVersion},
		{"topic on a key since added", topic(nil), topicConfigs, kerr.InvalidUpdateVersion},
		{"topic on a key since removed", topic(map[string]string{"retention.ms": "1", "segment.ms": "9"}), topicConfigs, kerr.InvalidUpdateVersion},
		{"topic unguarded", SetTopicConfigs{TopicID: idA, Set: set, Base: map[string]string{"x": "y"}}, topicConfigs, nil},
		{"broker on its settings", broker(1, map[string]string{"log.retention.ms": "5"}), brokerConfigs(1), nil},
		{"broker without settings, none yet", broker(2, nil), brokerConfigs(2), nil},
		{"broker without settings, empty base", broker(2, map[string]string{}), brokerConfigs(2), nil},
		{"broker on changed settings", broker(1, map[string]string{"log.retention.ms": "4"}), brokerConfigs(1), kerr.InvalidUpdateVersion},
		{"cluster default on settings it never had", broker(ClusterDefault, map[string]string{"a": "1"}), brokerConfigs(ClusterDefault), kerr.InvalidUpdateVersion},
		{"broker unguarded", SetBrokerConfigs{Broker: 1, Set: set}, brokerConfigs(1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := img.Apply(7, tt.rec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil && got != img {
				t.Fatal("got a new image on error, want the unchanged one")
			}
			if applied := tt.of(got)["k"] == "v"; applied != (err == nil) {
				t.Fatalf("got overrides %v after %v", tt.of(got), err)
			}
		})
	}
}

// TestRacingRecordsApplyIdentically applies records as two controllers
// racing each other would write them, each decided on the same image, to
// two stores: one applies the whole log, the other starts from a snapshot
// taken midway, as a node that joined late. Every entry gets the same
// outcome on both, and the images end identical.
func TestRacingRecordsApplyIdentically(t *testing.T) {
	// Decided on baseImage (at index 5): a.b has 2 partitions, a.b-0 is at
	// partition epoch 0 with ISR [1 2], a.b has retention.ms=1.
	base := map[string]string{"retention.ms": "1"}
	log := []struct {
		rec  Record
		want error
	}{
		{CreateTopic{Name: "n", ID: idC, Partitions: []Partition{part(0, 1, 1)}}, nil},
		{CreateTopic{Name: "n", ID: [16]byte{0xd}, Partitions: []Partition{part(0, 2, 2)}}, kerr.TopicAlreadyExists},
		{CreatePartitions{TopicID: idA, Partitions: []Partition{part(2, 1, 1)}}, nil},
		{CreatePartitions{TopicID: idA, Partitions: []Partition{part(2, 2, 2), part(3, 2, 2)}}, kerr.InvalidPartitions},
		{SetTopicConfigs{TopicID: idA, Set: map[string]string{"retention.ms": "2"}, Guarded: true, Base: base}, nil},
		{SetTopicConfigs{TopicID: idA, Delete: []string{"retention.ms"}, Set: map[string]string{"segment.ms": "3"}, Guarded: true, Base: base}, kerr.InvalidUpdateVersion},
		{ChangePartitions{Changes: []PartitionChange{{TopicID: idA, Partition: 0, Epoch: 0, Leader: 1, ISR: []int32{1}}}}, nil},
		{ReassignPartitions{Changes: []PartitionReassignment{{PartitionChange: PartitionChange{TopicID: idA, Partition: 0, Epoch: 0,
			Leader: 1, ISR: []int32{1, 2}}, Replicas: []int32{2, 1}}}}, kerr.InvalidUpdateVersion},
		{DeleteTopic{ID: idB}, nil},
		{DeleteTopic{ID: idB}, kerr.UnknownTopicID},
		{SetClusterID{ID: "other"}, ErrInvalidRecord},
	}
	whole, late := NewStore(), NewStore()
	start, _ := baseImage(t).EncodeSnapshot()
	if err := whole.ApplyEncoded(5, start); err != nil {
		t.Fatal(err)
	}
	const joins = 4 // entries before the late store's snapshot
	for i, e := range log {
		index := uint64(6 + i)
		data := EncodeRecord(e.rec)
		if err := whole.ApplyEncoded(index, data); !errors.Is(err, e.want) {
			t.Fatalf("entry %d %T: got %v, want %v", i, e.rec, err, e.want)
		}
		switch {
		case i+1 == joins:
			snap, _ := whole.Current().EncodeSnapshot()
			if err := late.ApplyEncoded(index, snap); err != nil {
				t.Fatal(err)
			}
		case i+1 > joins:
			if err := late.ApplyEncoded(index, data); !errors.Is(err, e.want) {
				t.Fatalf("late store, entry %d %T: got %v, want %v", i, e.rec, err, e.want)
			}
		}
	}
	a, _ := whole.Current().EncodeSnapshot()
	b, _ := late.Current().EncodeSnapshot()
	if string(a) != string(b) {
		t.Fatal("the two stores' images differ")
	}
	got, _ := whole.Current().Topic("a.b")
	if len(got.Partitions) != 3 || !reflect.DeepEqual(got.Configs, map[string]string{"retention.ms": "2"}) || got.Partitions[0].Epoch != 1 {
		t.Fatalf("got a.b %+v, want 3 partitions, retention.ms=2, a.b-0 at epoch 1", got)
	}
}

func TestChangePartitions(t *testing.T) {
	// baseImage: a.b-0 led by 1 with replicas and ISR [1 2]; a.b-1 led by 2.
	// Brokers 1 and 2 are registered without incarnations: unfenced.
	setup := func(t *testing.T) *Image {
		img, err := baseImage(t).Apply(6, RegisterBroker{ID: 3, Host: "h3", Port: 1, Incarnation: idC}) // fenced
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	ch := func(p, epoch, leader, leaderEpoch int32, isr ...int32) PartitionChange {
		return PartitionChange{TopicID: idA, Partition: p, Epoch: epoch, Leader: leader, LeaderEpoch: leaderEpoch, ISR: isr}
	}
	tests := []struct {
		name    string
		changes []PartitionChange
		want    error
	}{
		{"shrink ISR", []PartitionChange{ch(0, 0, 1, 0, 1)}, nil},
		{"new leader", []PartitionChange{ch(0, 0, 2, 1, 2)}, nil},
		{"no leader", []PartitionChange{ch(0, 0, -1, 1, 1)}, nil},
		{"two partitions", []PartitionChange{ch(0, 0, 2, 1, 2), ch(1, 0, 2, 0, 2)}, nil},
		{"stale partition epoch", []PartitionChange{ch(0, 1, 1, 0, 1)}, kerr.InvalidUpdateVersion},
		{"leader epoch not bumped", []PartitionChange{ch(0, 0, 2, 0, 2)}, kerr.InvalidRequest},
		{"leader epoch bumped without a new leader", []PartitionChange{ch(0, 0, 1, 1, 1)}, kerr.InvalidRequest},
		{"leader outside ISR", []PartitionChange{ch(0, 0, 2, 1, 1)}, kerr.InvalidRequest},
		{"empty ISR", []PartitionChange{ch(0, 0, -1, 1)}, kerr.InvalidRequest},
		{"ISR not replicas", []PartitionChange{ch(0, 0, 1, 0, 1, 3)}, kerr.InvalidRequest},
		{"ISR twice", []PartitionChange{ch(0, 0, 1, 0, 1, 1)}, kerr.InvalidRequest},
		{"unknown partition", []PartitionChange{ch(5, 0, 1, 0, 1)}, kerr.UnknownTopicOrPartition},
		{"unknown topic", []PartitionChange{{TopicID: idC, ISR: []int32{1}}}, kerr.UnknownTopicID},
		{"same partition twice", []PartitionChange{ch(0, 0, 1, 0, 1), ch(0, 1, 1, 0, 1, 2)}, kerr.InvalidRequest},
		{"one bad change rejects all", []PartitionChange{ch(1, 0, 2, 0, 2), ch(0, 7, 1, 0, 1)}, kerr.InvalidUpdateVersion},
		{"nothing", nil, kerr.InvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := setup(t)
			img, err := old.Apply(10, ChangePartitions{Changes: tt.changes})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			a, _ := img.Topic("a.b")
			oa, _ := old.Topic("a.b")
			if err != nil {
				if img != old {
					t.Fatal("a rejected record changed the image")
				}
				return
			}
			for _, c := range tt.changes {
				p := a.Partitions[c.Partition]
				if p.Leader != c.Leader || p.LeaderEpoch != c.LeaderEpoch || p.Epoch != c.Epoch+1 || !slices.Equal(p.ISR, c.ISR) {
					t.Fatalf("got %+v after %+v", p, c)
				}
				if oa.Partitions[c.Partition].Epoch != c.Epoch {
					t.Fatal("old image changed")
				}
			}
		})
	}
	// A fenced broker can neither lead nor join an ISR; once unfenced it can.
	img := setup(t)
	add := ChangePartitions{Changes: []PartitionChange{ch(0, 0, 1, 0, 1, 2)}}
	img, err := img.Apply(7, add)
	if err != nil {
		t.Fatal(err)
	}
	img, err = img.Apply(8, CreatePartitions{TopicID: idA, Partitions: []Partition{{Index: 2, Leader: 1, Replicas: []int32{1, 3}, ISR: []int32{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	grow := ChangePartitions{Changes: []PartitionChange{{TopicID: idA, Partition: 2, Leader: 1, ISR: []int32{1, 3}}}}
	if _, err := img.Apply(9, grow); !errors.Is(err, kerr.IneligibleReplica) {
		t.Fatalf("fenced broker joined the ISR: %v", err)
	}
	lead := ChangePartitions{Changes: []PartitionChange{{TopicID: idA, Partition: 2, Leader: 3, LeaderEpoch: 1, ISR: []int32{1, 3}}}}
	if _, err := img.Apply(9, lead); !errors.Is(err, kerr.IneligibleReplica) {
		t.Fatalf("fenced broker became leader: %v", err)
	}
	img, err = img.Apply(9, UnfenceBroker{ID: 3, Epoch: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Apply(10, grow); err != nil {
		t.Fatalf("unfenced broker cannot join the ISR: %v", err)
	}
}

func TestReassignPartitions(t *testing.T) {
	// a.b-0: leader 1, replicas and ISR [1 2]; broker 3 registered, fenced;
	// broker 4 never registered.
	setup := func(t *testing.T) *Image {
		img, err := baseImage(t).Apply(6, RegisterBroker{ID: 3, Host: "h3", Port: 1, Incarnation: idC})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	re := func(epoch, leader, leaderEpoch int32, isr, replicas, adding, removing []int32) PartitionReassignment {
		return PartitionReassignment{PartitionChange: PartitionChange{TopicID: idA, Partition: 0, Epoch: epoch, Leader: leader,
			LeaderEpoch: leaderEpoch, ISR: isr}, Replicas: replicas, Adding: adding, Removing: removing}
	}
	ids := func(v ...int32) []int32 { return v }
	tests := []struct {
		name string
		c    PartitionReassignment
		want error
	}{
		{"start: add 3, remove 1", re(0, 1, 0, ids(1, 2), ids(2, 3, 1), ids(3), ids(1)), nil},
		{"complete at once", re(0, 2, 1, ids(2), ids(2), nil, nil), nil},
		{"stale epoch", re(3, 1, 0, ids(1, 2), ids(2, 3, 1), ids(3), ids(1)), kerr.InvalidUpdateVersion},
		{"unregistered broker", re(0, 1, 0, ids(1, 2), ids(1, 2, 4), ids(4), nil), kerr.InvalidReplicaAssignment},
		{"replica twice", re(0, 1, 0, ids(1, 2), ids(1, 2, 2), nil, nil), kerr.InvalidReplicaAssignment},
		{"no replicas", re(0, 1, 0, ids(1), nil, nil, nil), kerr.InvalidReplicaAssignment},
		{"adding not a replica", re(0, 1, 0, ids(1, 2), ids(1, 2), ids(3), nil), kerr.InvalidReplicaAssignment},
		{"added and removed", re(0, 1, 0, ids(1, 2), ids(1, 2, 3), ids(3), ids(3)), kerr.InvalidReplicaAssignment},
		{"all removed", re(0, 1, 0, ids(1, 2), ids(1, 2), nil, ids(1, 2)), kerr.InvalidReplicaAssignment},
		{"ISR outside the new replicas", re(0, 2, 1, ids(1, 2), ids(2), nil, nil), kerr.InvalidRequest},
		{"fenced broker joins the ISR", re(0, 1, 0, ids(1, 3), ids(1, 3), nil, nil), kerr.IneligibleReplica},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := setup(t)
			img, err := old.Apply(10, ReassignPartitions{Changes: []PartitionReassignment{tt.c}})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			a, _ := img.Topic("a.b")
			p := a.Partitions[0]
			if !slices.Equal(p.Replicas, tt.c.Replicas) || !slices.Equal(p.Adding, tt.c.Adding) || !slices.Equal(p.Removing, tt.c.Removing) ||
				p.Leader != tt.c.Leader || !slices.Equal(p.ISR, tt.c.ISR) || p.Epoch != 1 {
				t.Fatalf("got %+v after %+v", p, tt.c)
			}
			wantTarget, wantOriginal := ids(2, 3), ids(2, 1)
			if len(tt.c.Adding) == 0 {
				wantTarget, wantOriginal = tt.c.Replicas, tt.c.Replicas
			}
			if !slices.Equal(p.Target(), wantTarget) || !slices.Equal(p.Original(), wantOriginal) || p.Reassigning() != (len(tt.c.Adding) > 0) {
				t.Fatalf("target %v, original %v, reassigning %v", p.Target(), p.Original(), p.Reassigning())
			}
		})
	}
}

func TestBatch(t *testing.T) {
	img := baseImage(t)
	reg := RegisterBroker{ID: 1, Host: "h1", Port: 1, Incarnation: idC} // a new process of broker 1: fenced
	move := ChangePartitions{Changes: []PartitionChange{{TopicID: idA, Partition: 0, Leader: 2, LeaderEpoch: 1, ISR: []int32{2}}}}
	next, err := img.Apply(10, Batch{Records: []Record{reg, move}})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := next.Broker(1); !b.Fenced || b.Epoch != 10 {
		t.Fatalf("broker 1: %+v, want fenced at epoch 10", b)
	}
	if a, _ := next.Topic("a.b"); a.Partitions[0].Leader != 2 {
		t.Fatalf("a.b-0 led by %d, want 2", a.Partitions[0].Leader)
	}
	// The election of a broker the same batch fences fails, and so does
	// the whole batch.
	bad := ChangePartitions{Changes: []PartitionChange{{TopicID: idA, Partition: 1, Leader: 1, LeaderEpoch: 1, ISR: []int32{1}}}}
	got, err := img.Apply(10, Batch{Records: []Record{reg, bad}})
	if !errors.Is(err, kerr.IneligibleReplica) || got != img {
		t.Fatalf("got %v; want INELIGIBLE_REPLICA and the image unchanged", err)
	}
	if _, err := img.Apply(10, Batch{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("empty batch: %v", err)
	}
	if _, err := img.Apply(10, Batch{Records: []Record{Batch{Records: []Record{reg}}}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("nested batch: %v", err)
	}
}

func TestCheckTopicName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"A-z_0.9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"a b", false},
		{"ä", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		err := CheckTopicName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTopicName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("CheckTopicName(%q) = %v, want INVALID_TOPIC_EXCEPTION", tt.name, err)
		}
	}
}

func TestCollidingTopic(t *testing.T) {
	img := baseImage(t)
	tests := []struct{ name, want string }{
		{"a_b", "a.b"},
		{"a.b", ""},
		{"a_c", ""},
		{"z", ""},
	}
	for _, tt := range tests {
		if got := img.CollidingTopic(tt.name); got != tt.want {
			t.Errorf("CollidingTopic(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestScramCredentials(t *testing.T) {
	img, err := (&Image{}).Apply(1, scramSample("alice", 1))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = img.Apply(2, scramSample("alice", 2)); err != nil {
		t.Fatal(err)
	}
	if _, ok := img.ScramCredential("alice", 2); !ok {
		t.Fatal("alice's SCRAM-SHA-512 credential missing")
	}
	del, err := img.Apply(3, ScramCredential{User: "alice", Mechanism: 1, Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := del.ScramCredential("alice", 1); ok {
		t.Fatal("deleted credential still there")
	}
	if _, ok := img.ScramCredential("alice", 1); !ok {
		t.Fatal("the deletion changed the earlier image")
	}
	if _, err := del.Apply(4, ScramCredential{User: "alice", Mechanism: 1, Delete: true}); !errors.Is(err, kerr.ResourceNotFound) {
		t.Fatalf("deleting a missing credential: got %v, want RESOURCE_NOT_FOUND", err)
	}
	bad := scramSample("alice", 1)
	bad.StoredKey = bad.StoredKey[:5]
	for _, r := range []ScramCredential{bad, scramSample("", 1), scramSample("bob", 3), {User: "bob", Mechanism: 1}} {
		if _, err := img.Apply(4, r); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("%+v: got %v, want ErrInvalidRecord", r, err)
		}
	}
}
