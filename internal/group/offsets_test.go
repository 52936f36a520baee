package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestOffsetsOfEmptyGroupExpireFromEmptiness(t *testing.T) {
	h := stableOne(t)
	tp := TopicPartition{Topic: "t", Partition: 0}
	if code := h.g.ValidateCommit(h.now, "a", nil, 1); code != 0 {
		t.Fatalf("member commit: got %d, want 0", code)
	}
	h.g.ApplyCommit(map[TopicPartition]Offset{tp: {Offset: 9, LeaderEpoch: -1, CommitTime: h.now}})
	retention := 24 * time.Hour
	if h.g.ExpireOffsets(h.now.Add(2*retention), retention) {
		t.Fatal("offsets of a Stable group expired")
	}
	h.g.Leave(h.now, h.lim, "a", nil)
	h.drain()
	h.wantState(Empty)
	emptyAt := h.now
	h.now = emptyAt.Add(retention - time.Second)
	if h.g.ExpireOffsets(h.now, retention) {
		t.Fatal("expired before retention since the group became empty")
	}
	if _, ok := h.g.Offset(tp); !ok {
		t.Fatal("offset gone early")
	}
	n := len(h.records)
	if !h.g.ExpireOffsets(emptyAt.Add(retention), retention) {
		t.Fatal("group not dead after its last offset expired")
	}
	h.drain()
	if got := len(h.records) - n; got != 2 {
		t.Fatalf("tombstones: got %d, want 2", got)
	}
	for _, r := range h.records[n:] {
		if r.Value != nil {
			t.Fatalf("got a record with a value, want tombstones")
		}
	}
}

func TestValidateCommitFencedAndDead(t *testing.T) {
	h := newHarness(t)
	_, _, tok := h.join(staticParams("", "s1", "i1"))
	h.joinedReply(tok)
	h.sync("s1", 1, nil)
	inst := "i1"
	if code := h.g.ValidateCommit(h.now, "old", &inst, 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("got %d, want FENCED_INSTANCE_ID", code)
	}
	h.g.Close(h.now, kerr.NotCoordinator.Code)
	if code := h.g.ValidateCommit(h.now, "s1", &inst, 1); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("dead group: got %d, want COORDINATOR_NOT_AVAILABLE", code)
	}
}

func TestReplayRestoresGroup(t *testing.T) {
	h := stableOne(t)
	h.g.ApplyCommit(map[TopicPartition]Offset{{Topic: "t", Partition: 2}: {Offset: 4, LeaderEpoch: 1, Metadata: "x", CommitTime: h.now}})
	r := newReplay()
	recs := append(h.records, h.g.CommitRecord(TopicPartition{Topic: "t", Partition: 2}, Offset{Offset: 4, LeaderEpoch: 1, Metadata: "x", CommitTime: h.now}))
	for _, rec := range recs {
		if err := r.apply(rec.Key, rec.Value); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	later := h.now.Add(time.Minute)
	g := r.groups(later)["g"]
	if g == nil || g.State() != Stable || g.Generation() != 1 || g.Leader() != "a" || g.Protocol() != "range" {
		t.Fatalf("restored group: got %+v", g)
	}
	m := g.Member("a")
	if m == nil || string(m.Assignment) != "A" || !m.deadline.Equal(later.Add(10*time.Second)) {
		t.Fatalf("restored member: got %+v, want assignment A and a session restarted at load", m)
	}
	if o, ok := g.Offset(TopicPartition{Topic: "t", Partition: 2}); !ok || o.Offset != 4 || o.LeaderEpoch != 1 || o.Metadata != "x" {
		t.Fatalf("restored offset: got %+v", o)
	}
}
