package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/stratalog/strata/internal/txn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memStore is an in-memory __consumer_offsets partition.
type memStore struct {
	mu   sync.Mutex
	recs []LogRecord
	fail error
}

func (s *memStore) Append(_ context.Context, recs []Record) error {
	return s.add(-1, false, recs)
}

func (s *memStore) AppendTxn(_ context.Context, producerID int64, _ int16, _ txn.Guard, recs []Record) error {
	return s.add(producerID, true, recs)
}

func (s *memStore) add(producerID int64, transactional bool, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range recs {
		s.recs = append(s.recs, LogRecord{Key: r.Key, Value: r.Value, ProducerID: producerID, Transactional: transactional})
	}
	return nil
}

// marker appends a transaction marker, as WriteTxnMarkers does.
func (s *memStore) marker(producerID int64, commit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, LogRecord{ProducerID: producerID, Transactional: true, Control: true, Commit: commit})
}

func (s *memStore) Replay(_ context.Context, fn func(LogRecord) error) error {
	s.mu.Lock()
	recs := append([]LogRecord(nil), s.recs...)
	s.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func newCoordinator(t *testing.T, s Store, clk *clock) *Coordinator {
	t.Helper()
	cfg := Config{NumPartitions: 1, MinSessionTimeout: time.Second}
	if clk != nil {
		cfg.Now = clk.Now
	}
	cfg.TopicPartitionExists = func(topic string, _ int32) bool { return topic != "missing" }
	c := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := c.Load(context.Background(), 0, s); err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func joinReq(group, member string, instance *string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID, r.InstanceID = group, member, instance
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 30000
	r.ProtocolType = "consumer"
	meta := kmsg.ConsumerMemberMetadata{Version: 0, Topics: []string{"t"}}
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	return r
}

// joinNew runs the KIP-394 round trip and returns the (blocking) second
// join's answer.
func joinNew(t *testing.T, c *Coordinator, group string) *kmsg.JoinGroupResponse {
	t.Helper()
	ctx := context.Background()
	r := c.JoinGroup(ctx, Client{ID: "cli", Host: "/127.0.0.1"}, joinReq(group, "", nil))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first join: got error %d member %q, want MEMBER_ID_REQUIRED with an id", r.ErrorCode, r.MemberID)
	}
	return c.JoinGroup(ctx, Client{ID: "cli", Host: "/127.0.0.1"}, joinReq(group, r.MemberID, nil))
}

func syncReq(group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	return r
}

func commitReq(group, member string, gen int32, topic string, part int32, offset int64, md *string) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, member, gen
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.Metadata, p.LeaderEpoch = part, offset, md, 5
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	return r
}

func commitCode(t *testing.T, r *kmsg.OffsetCommitResponse) int16 {
	t.Helper()
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("commit response shape: %+v", r)
	}
	return r.Topics[0].Partitions[0].ErrorCode
}

func fetchV8(c *Coordinator, group string, topics map[string][]int32) *kmsg.OffsetFetchResponseGroup {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = group
	if topics != nil {
		g.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
		for tp, ps := range topics {
			g.Topics = append(g.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: tp, Partitions: ps})
		}
	}
	r.Groups = []kmsg.OffsetFetchRequestGroup{g}
	resp := c.OffsetFetch(context.Background(), r)
	return &resp.Groups[0]
}

func strp(s string) *string { return &s }

func TestPartitionFor(t *testing.T) {
	c := New(Config{NumPartitions: 50}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		group string
		want  int32
	}{
		{"", 0},
		{"hello", 99162322 % 50},     // "hello".hashCode() == 99162322
		{"polygenelubricants", 0},    // hashCode() == Integer.MIN_VALUE; abs masks it to 0
		{"Aa", 2112 % 50},            // "Aa" and "BB" collide in Java
		{"BB", 2112 % 50},            //
		{"\U0001F600", 1772899 % 50}, // surrogate pair D83D DE00: 55357*31+56832
	}
	for _, tt := range tests {
		if got := c.PartitionFor(tt.group); got != tt.want {
			t.Errorf("PartitionFor(%q): got %d, want %d", tt.group, got, tt.want)
		}
	}
}

func TestCommitRestartFetch(t *testing.T) {
	ctx := context.Background()
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	jr := joinNew(t, c, "g")
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != jr.MemberID {
		t.Fatalf("join: got %+v, want generation 1 with us leading", jr)
	}
	me := jr.MemberID
	sr := c.SyncGroup(ctx, syncReq("g", me, 1, map[string]string{me: "assign"}))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assign" || sr.Protocol == nil || *sr.Protocol != "range" {
		t.Fatalf("sync: got %+v, want our assignment", sr)
	}
	for _, tc := range []struct {
		part int32
		md   *string
	}{{0, strp("meta")}, {1, strp("")}, {2, nil}} {
		if code := commitCode(t, c.OffsetCommit(ctx, commitReq("g", me, 1, "t", tc.part, 100+int64(tc.part), tc.md))); code != 0 {
			t.Fatalf("commit partition %d: got %d, want 0", tc.part, code)
		}
	}
	if code := commitCode(t, c.OffsetCommit(ctx, commitReq("g", me, 1, "missing", 0, 1, nil))); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("commit to missing topic: got %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}

	c2 := newCoordinator(t, s, nil)
	g := fetchV8(c2, "g", map[string][]int32{"t": {0, 1, 2, 3}})
	if g.ErrorCode != 0 || len(g.Topics) != 1 {
		t.Fatalf("fetch: got %+v", g)
	}
	want := []struct {
		offset int64
		epoch  int32
		md     string
	}{{100, 5, "meta"}, {101, 5, ""}, {102, 5, ""}, {-1, -1, ""}}
	for i, p := range g.Topics[0].Partitions {
		if p.Offset != want[i].offset || p.LeaderEpoch != want[i].epoch || p.Metadata == nil || *p.Metadata != want[i].md || p.ErrorCode != 0 {
			t.Errorf("partition %d: got offset %d epoch %d metadata %v error %d, want %+v", p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode, want[i])
		}
	}
	all := fetchV8(c2, "g", nil)
	if len(all.Topics) != 1 || len(all.Topics[0].Partitions) != 3 {
		t.Fatalf("fetch all: got %+v, want 3 partitions of t", all)
	}

	d := c2.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"g", "nope"}})
	dg := d.Groups[0]
	if dg.State != "Stable" || dg.Protocol != "range" || len(dg.Members) != 1 || dg.Members[0].MemberID != me ||
		dg.Members[0].ClientID != "cli" || dg.Members[0].ClientHost != "/127.0.0.1" || string(dg.Members[0].MemberAssignment) != "assign" {
		t.Fatalf("describe after restart: got %+v", dg)
	}
	if d.Groups[1].State != "Dead" || d.Groups[1].ErrorCode != 0 {
		t.Fatalf("describe unknown: got %+v, want Dead without error", d.Groups[1])
	}
	// The restored member keeps its generation.
	hb := c2.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g", MemberID: me, Generation: 1})
	if hb.ErrorCode != 0 {
		t.Fatalf("heartbeat after restart: got %d, want 0", hb.ErrorCode)
	}
	lg := c2.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"stable"}})
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "g" {
		t.Fatalf("list stable: got %+v", lg.Groups)
	}
	if lg := c2.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"Empty"}}); len(lg.Groups) != 0 {
		t.Fatalf("list empty: got %+v, want none", lg.Groups)
	}
}

func TestUnknownGroupFetchAndNotCoordinator(t *testing.T) {
	c := New(Config{NumPartitions: 2}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := c.Load(context.Background(), c.PartitionFor("a"), &memStore{}); err != nil {
		t.Fatal(err)
	}
	g := fetchV8(c, "a", map[string][]int32{"t": {0}})
	if g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("unknown group fetch: got %+v, want -1 without error", g)
	}
	other := "b"
	for c.PartitionFor(other) == c.PartitionFor("a") {
		other += "x"
	}
	if g := fetchV8(c, other, nil); g.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("group of an unloaded partition: got %d, want NOT_COORDINATOR", g.ErrorCode)
	}
	r := c.JoinGroup(context.Background(), Client{}, joinReq(other, "", nil))
	if r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("join: got %d, want NOT_COORDINATOR", r.ErrorCode)
	}
}

func TestCommitRules(t *testing.T) {
	ctx := context.Background()
	c := newCoordinator(t, &memStore{}, nil)
	if code := commitCode(t, c.OffsetCommit(ctx, commitReq("simple", "", -1, "t", 0, 1, nil))); code != 0 {
		t.Fatalf("simple commit: got %d, want 0", code)
	}
	if code := commitCode(t, c.OffsetCommit(ctx, commitReq("nogroup", "m", 3, "t", 0, 1, nil))); code != kerr.IllegalGeneration.Code {
		t.Fatalf("member commit to missing group: got %d, want ILLEGAL_GENERATION", code)
	}
	big := string(make([]byte, 4097))
	if code := commitCode(t, c.OffsetCommit(ctx, commitReq("simple", "", -1, "t", 0, 1, &big))); code != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("big metadata: got %d, want OFFSET_METADATA_TOO_LARGE", code)
	}
	jr := joinNew(t, c, "g")
	if code := commitCode(t, c.OffsetCommit(ctx, commitReq("g", jr.MemberID, 1, "t", 0, 1, nil))); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing: got %d, want REBALANCE_IN_PROGRESS", code)
	}
	c.SyncGroup(ctx, syncReq("g", jr.MemberID, 1, nil))
	for _, tc := range []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"ok", jr.MemberID, 1, 0},
		{"wrong generation", jr.MemberID, 2, kerr.IllegalGeneration.Code},
		{"unknown member", "who", 1, kerr.UnknownMemberID.Code},
		{"simple commit to a live group", "", -1, kerr.UnknownMemberID.Code},
	} {
		if got := commitCode(t, c.OffsetCommit(ctx, commitReq("g", tc.member, tc.gen, "t", 0, 1, nil))); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestConcurrentJoinRebalance(t *testing.T) {
	ctx := context.Background()
	c := newCoordinator(t, &memStore{}, nil)
	a := joinNew(t, c, "g")
	c.SyncGroup(ctx, syncReq("g", a.MemberID, 1, map[string]string{a.MemberID: "A"}))

	bDone := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { // no t.Fatal off the test goroutine
		first := c.JoinGroup(ctx, Client{ID: "cli"}, joinReq("g", "", nil))
		bDone <- c.JoinGroup(ctx, Client{ID: "cli"}, joinReq("g", first.MemberID, nil))
	}()
	// a learns of the rebalance from its heartbeat, then rejoins.
	waitFor(t, "the rebalance to start", func() bool {
		return c.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g", MemberID: a.MemberID, Generation: 1}).ErrorCode == kerr.RebalanceInProgress.Code
	})
	ra := c.JoinGroup(ctx, Client{ID: "cli"}, joinReq("g", a.MemberID, nil))
	rb := <-bDone
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 2 || rb.Generation != 2 || len(ra.Members) != 2 {
		t.Fatalf("got a=%+v b=%+v, want both in generation 2, a leading", ra, rb)
	}
	sbDone := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { sbDone <- c.SyncGroup(ctx, syncReq("g", rb.MemberID, 2, nil)) }()
	sa := c.SyncGroup(ctx, syncReq("g", a.MemberID, 2, map[string]string{a.MemberID: "A", rb.MemberID: "B"}))
	sb := <-sbDone
	if string(sa.MemberAssignment) != "A" || string(sb.MemberAssignment) != "B" {
		t.Fatalf("assignments: got a=%q b=%q, want A and B", sa.MemberAssignment, sb.MemberAssignment)
	}
}

func TestJoinContextEndsAndUnload(t *testing.T) {
	c := newCoordinator(t, &memStore{}, nil)
	a := joinNew(t, c, "g")
	c.SyncGroup(context.Background(), syncReq("g", a.MemberID, 1, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := c.JoinGroup(ctx, Client{}, joinReq("g", "", strp("inst")))
	if r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("join with ended ctx: got %d, want REBALANCE_IN_PROGRESS", r.ErrorCode)
	}
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		done <- c.JoinGroup(context.Background(), Client{}, joinReq("g", "", strp("inst2")))
	}()
	waitFor(t, "the second static member to join", func() bool {
		d := c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Groups: []string{"g"}})
		return len(d.Groups[0].Members) == 3
	})
	c.Unload(0)
	if got := (<-done).ErrorCode; got != kerr.NotCoordinator.Code {
		t.Fatalf("waiting join after unload: got %d, want NOT_COORDINATOR", got)
	}
}

func TestDeleteGroupAndOffsets(t *testing.T) {
	ctx := context.Background()
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	a := joinNew(t, c, "g")
	c.SyncGroup(ctx, syncReq("g", a.MemberID, 1, nil))
	c.OffsetCommit(ctx, commitReq("g", a.MemberID, 1, "t", 0, 7, nil))
	c.OffsetCommit(ctx, commitReq("g", a.MemberID, 1, "u", 0, 8, nil))

	del := func(topic string) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = "g"
		r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
		return c.OffsetDelete(ctx, r)
	}
	if got := del("t").Topics[0].Partitions[0].ErrorCode; got != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("delete subscribed: got %d, want GROUP_SUBSCRIBED_TO_TOPIC", got)
	}
	if got := del("u"); got.ErrorCode != 0 || got.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("delete unsubscribed: got %+v, want ok", got)
	}
	if got := fetchV8(c, "g", map[string][]int32{"u": {0}}).Topics[0].Partitions[0].Offset; got != -1 {
		t.Fatalf("deleted offset: got %d, want -1", got)
	}

	dg := func() int16 {
		return c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g"}}).Groups[0].ErrorCode
	}
	if got := dg(); got != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete live group: got %d, want NON_EMPTY_GROUP", got)
	}
	lr := c.LeaveGroup(ctx, &kmsg.LeaveGroupRequest{Version: 3, Group: "g", Members: []kmsg.LeaveGroupRequestMember{{MemberID: a.MemberID}, {MemberID: "who"}}})
	if lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: got %+v", lr.Members)
	}
	if got := dg(); got != 0 {
		t.Fatalf("delete empty group: got %d, want 0", got)
	}
	if got := dg(); got != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete again: got %d, want GROUP_ID_NOT_FOUND", got)
	}
	c2 := newCoordinator(t, s, nil)
	if got := c2.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"g"}}).Groups[0].State; got != "Dead" {
		t.Fatalf("deleted group after restart: got %s, want Dead", got)
	}
	if got := fetchV8(c2, "g", map[string][]int32{"t": {0}}).Topics[0].Partitions[0].Offset; got != -1 {
		t.Fatalf("offset of a deleted group after restart: got %d, want -1", got)
	}
}

func TestOffsetsExpire(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	s := &memStore{}
	c := newCoordinator(t, s, clk)
	c.OffsetCommit(ctx, commitReq("simple", "", -1, "t", 0, 1, nil))
	c.tick(clk.add(7*24*time.Hour-time.Second), true)
	if got := fetchV8(c, "simple", map[string][]int32{"t": {0}}).Topics[0].Partitions[0].Offset; got != 1 {
		t.Fatalf("before retention: got %d, want 1", got)
	}
	n := s.len()
	c.tick(clk.add(time.Second), true)
	if got := fetchV8(c, "simple", map[string][]int32{"t": {0}}).Topics[0].Partitions[0].Offset; got != -1 {
		t.Fatalf("after retention: got %d, want -1", got)
	}
	if got := s.len() - n; got != 2 {
		t.Fatalf("tombstones written: got %d, want 2 (offset and group)", got)
	}
}

func TestSessionExpiryThroughDriver(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	c := newCoordinator(t, &memStore{}, clk)
	a := joinNew(t, c, "g")
	c.SyncGroup(context.Background(), syncReq("g", a.MemberID, 1, nil))
	next := c.tick(clk.Now(), false)
	if want := clk.Now().Add(10 * time.Second); !next.Equal(want) {
		t.Fatalf("next deadline: got %v, want %v", next, want)
	}
	c.tick(clk.add(10*time.Second), false)
	d := c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Groups: []string{"g"}})
	if d.Groups[0].State != "Empty" || len(d.Groups[0].Members) != 0 {
		t.Fatalf("after session expiry: got %+v, want Empty", d.Groups[0])
	}
}

func TestAppendFailure(t *testing.T) {
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	s.fail = errors.New("disk full")
	if code := commitCode(t, c.OffsetCommit(context.Background(), commitReq("simple", "", -1, "t", 0, 1, nil))); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit on failing store: got %d, want COORDINATOR_NOT_AVAILABLE", code)
	}
	s.fail = nil
	if got := fetchV8(c, "simple", map[string][]int32{"t": {0}}).Topics[0].Partitions[0].Offset; got != -1 {
		t.Fatalf("failed commit visible: got %d, want -1", got)
	}
}

func TestRun(t *testing.T) {
	c := newCoordinator(t, &memStore{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	a := joinNew(t, c, "g")
	if a.ErrorCode != 0 {
		t.Fatalf("join under Run: got %d", a.ErrorCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestSyncAppendFailureRebalances(t *testing.T) {
	ctx := context.Background()
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	a := joinNew(t, c, "g")
	s.mu.Lock()
	s.fail = errors.New("disk full")
	s.mu.Unlock()
	if got := c.SyncGroup(ctx, syncReq("g", a.MemberID, 1, map[string]string{a.MemberID: "A"})).ErrorCode; got != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("sync on failing store: got %d, want COORDINATOR_NOT_AVAILABLE", got)
	}
	if got := c.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g", MemberID: a.MemberID, Generation: 1}).ErrorCode; got != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after failed store: got %d, want REBALANCE_IN_PROGRESS", got)
	}
}

// waitFor polls cond every millisecond until it holds, failing the test
// after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// TestLoadingAnswersLoadInProgress: between Loading and Load a group's
// requests are COORDINATOR_LOAD_IN_PROGRESS, not NOT_COORDINATOR.
func TestLoadingAnswersLoadInProgress(t *testing.T) {
	c := New(Config{NumPartitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := &kmsg.HeartbeatRequest{Group: "g", MemberID: "m", Generation: 1}
	if got := c.Heartbeat(context.Background(), req).ErrorCode; got != kerr.NotCoordinator.Code {
		t.Fatalf("before Loading: got %d, want NOT_COORDINATOR", got)
	}
	c.Loading(0)
	if got := c.Heartbeat(context.Background(), req).ErrorCode; got != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("after Loading: got %d, want COORDINATOR_LOAD_IN_PROGRESS", got)
	}
	if err := c.Load(context.Background(), 0, &memStore{}); err != nil {
		t.Fatal(err)
	}
	if got := c.Heartbeat(context.Background(), req).ErrorCode; got != kerr.UnknownMemberID.Code {
		t.Fatalf("after Load: got %d, want UNKNOWN_MEMBER_ID", got)
	}
}
