package controller

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// electionImage has brokers 1 and 2 unfenced, 3 fenced, and topic "t"
// with the given partitions.
func electionImage(t *testing.T, parts ...metadata.Partition) *metadata.Image {
	t.Helper()
	return imageOf(t, broker(1, ""), broker(2, ""), metadata.RegisterBroker{ID: 3, Host: "h", Port: 3, Incarnation: [16]byte{9}},
		metadata.CreateTopic{Name: "t", ID: [16]byte{0xaa}, Partitions: parts})
}

func part(i, leader int32, replicas, isr []int32) metadata.Partition {
	return metadata.Partition{Index: i, Leader: leader, LeaderEpoch: 4, Epoch: 7, Replicas: replicas, ISR: isr}
}

func TestDecideElection(t *testing.T) {
	change := func(leader int32, isr ...int32) metadata.PartitionChange {
		return metadata.PartitionChange{TopicID: [16]byte{0xaa}, Partition: 0, Epoch: 7, Leader: leader, LeaderEpoch: 5, ISR: isr}
	}
	tests := []struct {
		name    string
		typ     ElectionType
		p       metadata.Partition
		want    metadata.PartitionChange
		wantErr error
	}{
		{"preferred elected", ElectPreferred, part(0, 2, []int32{1, 2}, []int32{2, 1}), change(1, 2, 1), nil},
		{"preferred already leads", ElectPreferred, part(0, 1, []int32{1, 2}, []int32{1, 2}), metadata.PartitionChange{}, kerr.ElectionNotNeeded},
		{"preferred out of sync", ElectPreferred, part(0, 2, []int32{1, 2}, []int32{2}), metadata.PartitionChange{}, kerr.PreferredLeaderNotAvailable},
		{"preferred fenced", ElectPreferred, part(0, 2, []int32{3, 2}, []int32{3, 2}), metadata.PartitionChange{}, kerr.PreferredLeaderNotAvailable},
		{"preferred for a leaderless partition", ElectPreferred, part(0, -1, []int32{1, 3}, []int32{1}), change(1, 1), nil},
		{"unclean not needed", ElectUnclean, part(0, 2, []int32{1, 2}, []int32{2}), metadata.PartitionChange{}, kerr.ElectionNotNeeded},
		{"unclean picks a live in-sync replica first", ElectUnclean, part(0, -1, []int32{1, 2, 3}, []int32{3, 2}), change(2, 3, 2), nil},
		{"unclean out of the ISR", ElectUnclean, part(0, -1, []int32{3, 2}, []int32{3}), change(2, 2), nil},
		{"unclean with a fenced leader", ElectUnclean, part(0, 3, []int32{3, 1}, []int32{3}), change(1, 1), nil},
		{"unclean with nobody alive", ElectUnclean, part(0, -1, []int32{3}, []int32{3}), metadata.PartitionChange{}, kerr.EligibleLeadersNotAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := electionImage(t, tt.p)
			got, err := decideElection(img, tt.typ, PartitionRef{"t", 0})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if err != nil {
				return
			}
			if _, err := img.Apply(img.AppliedIndex+1, metadata.ChangePartitions{Changes: []metadata.PartitionChange{got}}); err != nil {
				t.Fatalf("the image rejects the election: %v", err)
			}
		})
	}
	img := electionImage(t, part(0, 1, []int32{1}, []int32{1}))
	for _, ref := range []PartitionRef{{"t", 1}, {"t", -1}, {"u", 0}} {
		if _, err := decideElection(img, ElectPreferred, ref); !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("%v: got %v, want UNKNOWN_TOPIC_OR_PARTITION", ref, err)
		}
	}
}

func TestDecideRebalance(t *testing.T) {
	// Broker 1 is the preferred replica of partitions 0-3 and leads only 0
	// (75% lost); broker 2 of 4-7 and leads all but 4 (25% lost).
	parts := []metadata.Partition{
		part(0, 1, []int32{1, 2}, []int32{1, 2}),
		part(1, 2, []int32{1, 2}, []int32{1, 2}),
		part(2, 2, []int32{1, 2}, []int32{2, 1}),
		part(3, 2, []int32{1, 2}, []int32{2}), // 1 out of sync: not movable
		part(4, 1, []int32{2, 1}, []int32{1, 2}),
		part(5, 2, []int32{2, 1}, []int32{1, 2}),
		part(6, 2, []int32{2, 1}, []int32{1, 2}),
		part(7, 2, []int32{2, 1}, []int32{1, 2}),
	}
	img := electionImage(t, parts...)
	leaders := func(changes []metadata.PartitionChange) map[int32]int32 {
		out := map[int32]int32{}
		for _, c := range changes {
			out[c.Partition] = c.Leader
		}
		return out
	}
	if got, want := leaders(decideRebalance(img, 10)), map[int32]int32{1: 1, 2: 1, 4: 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("at 10%%: got %v, want %v", got, want)
	}
	if got, want := leaders(decideRebalance(img, 50)), map[int32]int32{1: 1, 2: 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("at 50%%: got %v, want %v", got, want)
	}
	if got := decideRebalance(img, 100); len(got) != 0 {
		t.Errorf("at 100%%: got %v, want nothing", got)
	}
}
