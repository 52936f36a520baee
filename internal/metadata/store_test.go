package metadata

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestStore(t *testing.T) {
	s := NewStore()
	if img := s.Current(); img == nil || len(img.Topics()) != 0 {
		t.Fatalf("got %v, want the empty image", img)
	}
	type change struct{ oldIndex, newIndex uint64 }
	var changes []change
	s.Subscribe(func(old, new *Image) {
		if s.Current() != new {
			t.Error("Current is not the new image inside the callback")
		}
		changes = append(changes, change{old.AppliedIndex, new.AppliedIndex})
	})

	if err := s.ApplyEncoded(1, EncodeRecord(RegisterBroker{ID: 1, Host: "h", Port: 1})); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(2, CreateTopic{Name: "t", ID: idA, Partitions: []Partition{part(0, 1, 1)}}); err != nil {
		t.Fatal(err)
	}
	// A rejected record consumes its index but changes nothing else;
	// subscribers hear of the index.
	if err := s.Apply(3, DeleteTopic{ID: idB}); !errors.Is(err, kerr.UnknownTopicID) {
		t.Fatalf("got %v, want UNKNOWN_TOPIC_ID", err)
	}
	if got := s.Current().AppliedIndex; got != 3 {
		t.Fatalf("got applied index %d after a rejected record, want 3", got)
	}
	if err := s.ApplyEncoded(4, []byte{Version, 200}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if got := s.Current().AppliedIndex; got != 3 {
		t.Fatalf("got applied index %d after undecodable data, want 3", got)
	}
	if _, ok := s.Current().Topic("t"); !ok {
		t.Fatal("topic t missing")
	}

	// Install a snapshot of an empty cluster at index 10.
	snap, _ := (&Image{ClusterID: "x"}).EncodeSnapshot()
	if err := s.ApplyEncoded(10, snap); err != nil {
		t.Fatal(err)
	}
	img := s.Current()
	if img.AppliedIndex != 10 || img.ClusterID != "x" || len(img.Topics()) != 0 {
		t.Fatalf("got image %+v after snapshot, want empty at 10", img)
	}
	want := []change{{0, 1}, {1, 2}, {2, 3}, {3, 10}}
	if len(changes) != len(want) {
		t.Fatalf("got changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("got changes %v, want %v", changes, want)
		}
	}
}
