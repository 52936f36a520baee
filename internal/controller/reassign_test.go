package controller

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// reassignImage has brokers 1, 2 and 4 unfenced, 3 fenced, and topic "t"
// with the given partition 0.
func reassignImage(t *testing.T, p metadata.Partition) *metadata.Image {
	t.Helper()
	return imageOf(t, broker(1, ""), broker(2, ""), metadata.RegisterBroker{ID: 3, Host: "h", Port: 3, Incarnation: [16]byte{9}}, broker(4, ""),
		metadata.CreateTopic{Name: "t", ID: [16]byte{0xaa}, Partitions: []metadata.Partition{p}})
}

func TestDecideReassignment(t *testing.T) {
	ids := func(v ...int32) []int32 { return v }
	re := func(leader, leaderEpoch int32, isr, replicas, adding, removing []int32) metadata.PartitionReassignment {
		return metadata.PartitionReassignment{PartitionChange: metadata.PartitionChange{TopicID: [16]byte{0xaa}, Epoch: 7,
			Leader: leader, LeaderEpoch: leaderEpoch, ISR: isr}, Replicas: replicas, Adding: adding, Removing: removing}
	}
	moving := part(0, 1, ids(4, 2, 1), ids(1, 2))
	moving.Adding, moving.Removing = ids(4), ids(1)
	tests := []struct {
		name    string
		p       metadata.Partition
		target  []int32
		keep    bool
		want    metadata.PartitionReassignment
		wantErr error
	}{
		{"move 1 to 4: 4 catches up first", part(0, 1, ids(1, 2), ids(1, 2)), ids(4, 2), false,
			re(1, 4, ids(1, 2), ids(4, 2, 1), ids(4), ids(1)), nil},
		{"grow the replication factor", part(0, 1, ids(1, 2), ids(1, 2)), ids(1, 2, 4), false,
			re(1, 4, ids(1, 2), ids(1, 2, 4), ids(4), nil), nil},
		{"shrink with the target in sync completes at once", part(0, 1, ids(1, 2), ids(1, 2)), ids(2), false,
			re(2, 5, ids(2), ids(2), nil, nil), nil},
		{"shrink waits for an out-of-sync target", part(0, 1, ids(1, 2), ids(1)), ids(2), false,
			re(1, 4, ids(1), ids(2, 1), nil, ids(1)), nil},
		{"reorder completes at once", part(0, 1, ids(1, 2), ids(1, 2)), ids(2, 1), false,
			re(1, 4, ids(1, 2), ids(2, 1), nil, nil), nil},
		{"same replicas: nothing to do", part(0, 1, ids(1, 2), ids(1, 2)), ids(1, 2), false, metadata.PartitionReassignment{}, errNoChange},
		{"replace a reassignment in progress", moving, ids(2, 1), false,
			re(1, 4, ids(1, 2), ids(2, 1), nil, nil), nil},
		{"cancel", moving, nil, false, re(1, 4, ids(1, 2), ids(2, 1), nil, nil), nil},
		{"cancel without a reassignment", part(0, 1, ids(1, 2), ids(1, 2)), nil, false, metadata.PartitionReassignment{}, kerr.NoReassignmentInProgress},
		{"empty target", part(0, 1, ids(1, 2), ids(1, 2)), []int32{}, false, metadata.PartitionReassignment{}, kerr.InvalidReplicaAssignment},
		{"broker twice", part(0, 1, ids(1, 2), ids(1, 2)), ids(2, 2), false, metadata.PartitionReassignment{}, kerr.InvalidReplicaAssignment},
		{"unknown broker", part(0, 1, ids(1, 2), ids(1, 2)), ids(1, 9), false, metadata.PartitionReassignment{}, kerr.InvalidReplicaAssignment},
		{"factor change refused", part(0, 1, ids(1, 2), ids(1, 2)), ids(1, 2, 4), true, metadata.PartitionReassignment{}, kerr.InvalidReplicationFactor},
		{"the old replicas stay until the new one is in sync", part(0, 1, ids(1, 2), ids(1)), ids(4), false,
			re(1, 4, ids(1), ids(4, 1, 2), ids(4), ids(1, 2)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := reassignImage(t, tt.p)
			got, err := decideReassignment(img, Reassignment{PartitionRef: PartitionRef{"t", 0}, Target: tt.target, KeepFactor: tt.keep})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if err != nil {
				return
			}
			if _, err := img.Apply(img.AppliedIndex+1, metadata.ReassignPartitions{Changes: []metadata.PartitionReassignment{got}}); err != nil {
				t.Fatalf("the image rejects the change: %v", err)
			}
		})
	}
	img := reassignImage(t, part(0, 1, ids(1), ids(1)))
	if _, err := decideReassignment(img, Reassignment{PartitionRef: PartitionRef{"t", 3}, Target: ids(1)}); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown partition: got %v", err)
	}
}

func TestCompletion(t *testing.T) {
	ids := func(v ...int32) []int32 { return v }
	p := part(0, 1, ids(4, 2, 1), ids(1, 2))
	p.Adding, p.Removing = ids(4), ids(1)
	img := reassignImage(t, p)
	if got := decideCompletions(img); len(got) != 0 {
		t.Fatalf("completed before the new replica is in sync: %+v", got)
	}
	// 4 joins the ISR: the target [4 2] replaces the replicas, 1 leaves
	// the ISR and hands the leadership to 4, the first target replica.
	next, err := img.Apply(img.AppliedIndex+1, metadata.ChangePartitions{Changes: []metadata.PartitionChange{
		{TopicID: [16]byte{0xaa}, Epoch: 7, Leader: 1, LeaderEpoch: 4, ISR: ids(1, 2, 4)}}})
	if err != nil {
		t.Fatal(err)
	}
	got := decideCompletions(next)
	want := []metadata.PartitionReassignment{{PartitionChange: metadata.PartitionChange{TopicID: [16]byte{0xaa}, Epoch: 8,
		Leader: 4, LeaderEpoch: 5, ISR: ids(2, 4)}, Replicas: ids(4, 2)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	done, err := next.Apply(next.AppliedIndex+1, metadata.ReassignPartitions{Changes: got})
	if err != nil {
		t.Fatalf("the image rejects the completion: %v", err)
	}
	if tp, _ := done.Topic("t"); tp.Partitions[0].Reassigning() || len(decideCompletions(done)) != 0 {
		t.Fatalf("still reassigning after completion: %+v", tp.Partitions[0])
	}
}
