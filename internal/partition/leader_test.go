package partition

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func all(int32) bool { return true }

// TestHighWatermark follows a leader of replicas 1, 2, 3 as its followers
// fetch: the high watermark is what every ISR member has.
func TestHighWatermark(t *testing.T) {
	s := newLeaderState(1, LeaderAndISR{Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}, 100, t0)
	if hw := s.highWatermark(100); hw != -1 {
		t.Fatalf("before any fetch: hw %d, want -1 (unknown)", hw)
	}
	s.fetched(2, 100, 100, t0)
	s.fetched(3, 90, 100, t0)
	if hw := s.highWatermark(110); hw != 90 {
		t.Fatalf("hw %d, want 90", hw)
	}
	s.fetched(3, 110, 110, t0)
	if hw := s.highWatermark(110); hw != 100 {
		t.Fatalf("hw %d, want 100", hw)
	}
	// The leader's own position bounds it: with flush.messages=1 only what
	// it has flushed counts.
	s.fetched(2, 110, 110, t0)
	if hw := s.highWatermark(105); hw != 105 {
		t.Fatalf("hw %d, want the leader's 105", hw)
	}
	// Not in the ISR: does not count.
	s.update(LeaderAndISR{Leader: 1, LeaderEpoch: 3, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}, t0)
	s.fetched(3, 0, 110, t0)
	if hw := s.highWatermark(110); hw != 110 {
		t.Fatalf("hw %d, want 110 without replica 3", hw)
	}
}

// TestISRShrinkAndExpand drives the ISR rules with a fake clock.
func TestISRShrinkAndExpand(t *testing.T) {
	lag := 10 * time.Second
	st := LeaderAndISR{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 4, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}
	s := newLeaderState(1, st, 50, t0)
	// Both followers keep up for a while.
	now := t0
	for i := range 5 {
		now = t0.Add(time.Duration(i) * 2 * time.Second)
		s.fetched(2, 50, 50, now)
		s.fetched(3, 50, 50, now)
	}
	if _, _, ok := s.isrChange(50, now, lag, all); ok {
		t.Fatal("ISR change while every follower keeps up")
	}
	// Follower 3 stops fetching; the leader's log grows; 2 keeps up.
	last3 := now
	for i := range 8 {
		now = now.Add(2 * time.Second)
		leo := int64(60 + i*10)
		s.fetched(2, leo, leo, now)
	}
	isr, reason, ok := s.isrChange(120, now, lag, all)
	if !ok || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("got %v %v, want [1 2] after 3 was silent since %v (now %v)", isr, ok, last3, now)
	}
	t.Log(reason)
	// While the change is pending the high watermark still waits for 3,
	// and no other change is proposed.
	if hw := s.highWatermark(130); hw != -1+51 && hw != 50 {
		t.Fatalf("hw %d while the shrink is pending, want 50 (replica 3's)", hw)
	}
	if _, _, ok := s.isrChange(120, now, lag, all); ok {
		t.Fatal("a second change while one is pending")
	}
	// The metadata takes the shrink.
	st.ISR, st.PartitionEpoch = []int32{1, 2}, 5
	s.update(st, now)
	if hw := s.highWatermark(130); hw != 130 {
		t.Fatalf("hw %d after the shrink, want 130", hw)
	}
	// 3 comes back and catches up: first to below the high watermark (not
	// yet), then to it.
	s.fetched(3, 100, 130, now)
	if _, _, ok := s.isrChange(130, now, lag, all); ok {
		t.Fatal("replica 3 joined before reaching the high watermark")
	}
	s.fetched(3, 130, 130, now)
	if _, _, ok := s.isrChange(130, now, lag, func(id int32) bool { return id != 3 }); ok {
		t.Fatal("a fenced replica joined the ISR")
	}
	isr, _, ok = s.isrChange(130, now, lag, all)
	if !ok || !slices.Equal(isr, []int32{1, 2, 3}) {
		t.Fatalf("got %v %v, want [1 2 3]", isr, ok)
	}
	// A pending expansion counts the new member at once.
	s.fetched(2, 140, 140, now)
	if hw := s.highWatermark(140); hw != 130 {
		t.Fatalf("hw %d while 3 is being added, want its 130", hw)
	}
	// A proposal that never lands is forgotten after pendingTimeout.
	if _, _, ok := s.isrChange(130, now.Add(pendingTimeout+time.Second), lag, all); !ok {
		t.Fatal("a lost proposal was not made again")
	}
}

// TestCaughtUpRule checks Kafka's rule: a follower that reaches the log
// end the leader had at its previous fetch was caught up then.
func TestCaughtUpRule(t *testing.T) {
	s := newLeaderState(1, LeaderAndISR{Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, 0, t0)
	s.fetched(2, 0, 100, t0.Add(time.Second))     // behind; leader at 100
	s.fetched(2, 100, 200, t0.Add(2*time.Second)) // has what the leader had at the previous fetch
	if got := s.followers[2].caughtUp; !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("caught up at %v, want %v", got, t0.Add(time.Second))
	}
	// A new leader epoch's ISR members start caught up: none is dropped
	// before it could fetch.
	if _, _, ok := s.isrChange(0, t0.Add(5*time.Second), 10*time.Second, all); ok {
		t.Fatal("ISR change")
	}
}

// TestJoinNeedsEpochStart: a follower joins the ISR only once it has
// reached the log end the leader had when it took the epoch.
func TestJoinNeedsEpochStart(t *testing.T) {
	s := newLeaderState(1, LeaderAndISR{Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}, 80, t0)
	s.fetched(2, 70, 80, t0)
	if _, _, ok := s.isrChange(50, t0, time.Minute, all); ok {
		t.Fatal("joined below the epoch start")
	}
	s.fetched(2, 80, 80, t0)
	if isr, _, ok := s.isrChange(50, t0, time.Minute, all); !ok || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("got %v %v, want [1 2]", isr, ok)
	}
}
