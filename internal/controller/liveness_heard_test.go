package controller

import (
	"testing"
	"time"
)

func TestLastHeard(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	l := NewLiveness(func() time.Time { return at })
	if _, ok := l.LastHeard(2); ok {
		t.Fatal("node 2 heard before any heartbeat")
	}
	l.Record(Heartbeat{NodeID: 2, Epoch: 5})
	at = at.Add(time.Second)
	l.Record(Heartbeat{NodeID: 3, Epoch: 6})
	for id, want := range map[int32]time.Time{2: at.Add(-time.Second), 3: at} {
		if got, ok := l.LastHeard(id); !ok || !got.Equal(want) {
			t.Errorf("node %d: got %v, %v; want %v, true", id, got, ok, want)
		}
	}
}
