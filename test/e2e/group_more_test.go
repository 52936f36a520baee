package e2e

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStaticMemberRestart restarts a static member (group.instance.id)
// within its session timeout: it gets its partitions back and the other
// member sees no rebalance.
func TestStaticMemberRestart(t *testing.T) {
	n := startNode(t, "", groupSettings)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 4, nil)
	var otherAssigns, otherHolds atomic.Int32
	// Eager range: every assignment callback carries the whole assignment.
	other := startMember(t, n.addr, "g", topic, newSeenSet(), kgo.Balancers(kgo.RangeBalancer()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			otherHolds.Store(int32(len(m[topic])))
			otherAssigns.Add(1)
		}))
	defer other.stop()

	var mu sync.Mutex
	var current []int32 // the static member's assignment, as its callback last saw it
	var assignments int
	static := func() *groupMember {
		return startMember(t, n.addr, "g", topic, newSeenSet(), kgo.InstanceID("static-1"), kgo.Balancers(kgo.RangeBalancer()),
			kgo.SessionTimeout(10*time.Second),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				current, assignments = m[topic], assignments+1
				mu.Unlock()
			}))
	}
	s := static()
	adm := kadm.NewClient(franzClient(t, n.addr))
	var first []int32
	var seenAssignments int
	eventually(t, 30*time.Second, "a stable group of two, each member holding half", func() bool {
		d, err := adm.DescribeGroups(context.Background(), "g")
		mu.Lock()
		defer mu.Unlock()
		first, seenAssignments = current, assignments
		return err == nil && d["g"].State == "Stable" && len(d["g"].Members) == 2 && len(current) == 2 && otherHolds.Load() == 2
	})
	before := otherAssigns.Load()
	s.stop() // a static member does not leave the group on close
	s = static()
	defer s.stop()
	var again []int32
	eventually(t, 30*time.Second, "the restarted static member assigned", func() bool {
		mu.Lock()
		defer mu.Unlock()
		again = current
		return assignments > seenAssignments
	})
	if !equalInt32s(first, again) {
		t.Fatalf("static member got %v after restart, had %v", again, first)
	}
	if got := otherAssigns.Load(); got != before {
		t.Fatalf("the other member was reassigned %d times during the static member's restart, want 0", got-before)
	}
}

func equalInt32s(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[int32]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

// TestCommittedOffsetsSurviveRestart commits through a group, restarts the
// node, and checks the offsets and their metadata are still there and a new
// member resumes from them.
func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	n := startNode(t, "", groupSettings)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	produceN(t, n.addr, topic, 0, 100)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx := context.Background()
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 30, LeaderEpoch: -1, Metadata: "meta-é"})
	offsets.Add(kadm.Offset{Topic: topic, Partition: 1, At: 20, LeaderEpoch: -1, Metadata: ""})
	resp, err := adm.CommitOffsets(ctx, "g", offsets)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	n.stop()

	n2 := startNode(t, n.dataDir, groupSettings)
	adm2 := kadm.NewClient(franzClient(t, n2.addr))
	var fetched kadm.OffsetResponses
	eventually(t, 30*time.Second, "offsets loaded", func() bool {
		fetched, err = adm2.FetchOffsets(ctx, "g")
		return err == nil && fetched.Error() == nil
	})
	for p, want := range map[int32]struct {
		at   int64
		meta string
	}{0: {30, "meta-é"}, 1: {20, ""}} {
		o, ok := fetched.Lookup(topic, p)
		if !ok || o.At != want.at || o.Metadata != want.meta {
			t.Errorf("partition %d after restart: got %+v, want offset %d metadata %q", p, o, want.at, want.meta)
		}
	}
	seen := newSeenSet()
	m := startMember(t, n2.addr, "g", topic, seen)
	eventually(t, 30*time.Second, "the rest consumed", func() bool { return seen.distinct() == 50 })
	m.stop()
}

// TestTwoGroupsEachSeeEverything runs two groups on one topic.
func TestTwoGroupsEachSeeEverything(t *testing.T) {
	n := startNode(t, "", groupSettings)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 6, nil)
	produceN(t, n.addr, topic, 0, 3000)
	s1, s2 := newSeenSet(), newSeenSet()
	a := startMember(t, n.addr, "g1", topic, s1)
	b := startMember(t, n.addr, "g2", topic, s2)
	eventually(t, 30*time.Second, "both groups consume everything", func() bool {
		return s1.distinct() == 3000 && s2.distinct() == 3000
	})
	a.stop()
	b.stop()
	s1.check(t, 3000)
	s2.check(t, 3000)
}

// TestGroupBadInput checks Kafka's answers to commits from unknown members
// and stale generations, oversized metadata, and unknown groups.
func TestGroupBadInput(t *testing.T) {
	n := startNode(t, "", groupSettings)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	ctx := context.Background()
	seen := newSeenSet()
	m := startMember(t, n.addr, "g", topic, seen)
	defer m.stop()
	adm := kadm.NewClient(franzClient(t, n.addr))
	eventually(t, 30*time.Second, "a stable group", func() bool {
		d, err := adm.DescribeGroups(ctx, "g")
		return err == nil && d["g"].State == "Stable"
	})
	cl := franzClient(t, n.addr)
	commit := func(group, member string, generation int32, metadata string) error {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, member, generation
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset, rp.LeaderEpoch, rp.Metadata = 0, -1, &metadata
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	d, err := adm.DescribeGroups(ctx, "g")
	if err != nil || len(d["g"].Members) != 1 {
		t.Fatalf("describe: %v %+v", err, d)
	}
	member := d["g"].Members[0].MemberID
	for _, tc := range []struct {
		name       string
		member     string
		generation int32
		metadata   string
		want       error
	}{
		{"unknown member", "nobody", 1, "", kerr.UnknownMemberID},
		{"stale generation", member, 0, "", kerr.IllegalGeneration},
		{"metadata too large", member, 1, strings.Repeat("x", 5000), kerr.OffsetMetadataTooLarge},
	} {
		if err := commit("g", tc.member, tc.generation, tc.metadata); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// Unknown groups.
	dg, err := adm.DescribeGroups(ctx, "no-such-group")
	if err != nil || dg["no-such-group"].State != "Dead" {
		t.Errorf("describe unknown group: %v %+v, want state Dead", err, dg["no-such-group"])
	}
	del, err := adm.DeleteGroups(ctx, "no-such-group")
	if err != nil || !errors.Is(del["no-such-group"].Err, kerr.GroupIDNotFound) {
		t.Errorf("delete unknown group: %v %v, want GROUP_ID_NOT_FOUND", err, del["no-such-group"].Err)
	}
	del, err = adm.DeleteGroups(ctx, "g")
	if err != nil || !errors.Is(del["g"].Err, kerr.NonEmptyGroup) {
		t.Errorf("delete live group: %v %v, want NON_EMPTY_GROUP", err, del["g"].Err)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "no-such-group", "x", 1
	hr, err := hb.RequestWith(ctx, cl)
	if err != nil || hr.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("heartbeat to unknown group: %v, code %d, want UNKNOWN_MEMBER_ID", err, hr.ErrorCode)
	}
}
