package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// harness drives one Group step by step: it is the clock and the network.
type harness struct {
	t       *testing.T
	g       *Group
	now     time.Time
	lim     Limits
	token   uint64
	replies map[uint64]Reply
	records []Record
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	return &harness{
		t:       t,
		g:       NewGroup("g", now),
		now:     now,
		lim:     Limits{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Hour, MaxGroupSize: 100},
		replies: map[uint64]Reply{},
	}
}

func (h *harness) drain() {
	e := h.g.TakeEffects()
	h.records = append(h.records, e.Records...)
	for _, r := range e.Replies {
		if _, dup := h.replies[r.Token]; dup {
			h.t.Fatalf("token %d answered twice", r.Token)
		}
		h.replies[r.Token] = r
	}
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.g.Tick(h.now, h.lim)
	h.drain()
}

var consumerProtocols = []Protocol{{Name: "range", Metadata: []byte{1}}}

func joinParams(member, newID string) JoinParams {
	return JoinParams{
		MemberID: member, NewMemberID: newID, ClientID: "c", ClientHost: "/127.0.0.1",
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second,
		ProtocolType: "consumer", Protocols: consumerProtocols, RequireKnownMemberID: true,
	}
}

// join sends a JoinGroup; it returns the immediate answer (done) or the
// token it waits on.
func (h *harness) join(p JoinParams) (JoinResult, bool, uint64) {
	h.t.Helper()
	h.token++
	p.Token = h.token
	r, done := h.g.Join(h.now, h.lim, p)
	h.drain()
	return r, done, p.Token
}

// joinedReply returns the answer delivered to a waiting join.
func (h *harness) joinedReply(token uint64) JoinResult {
	h.t.Helper()
	r, ok := h.replies[token]
	if !ok || r.Join == nil {
		h.t.Fatalf("join %d not answered", token)
	}
	return *r.Join
}

// newMember runs the KIP-394 round trip and returns the waiting token.
func (h *harness) newMember(id string) uint64 {
	h.t.Helper()
	r, done, _ := h.join(joinParams("", id))
	if !done || r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID != id {
		h.t.Fatalf("first join: got %+v done=%v, want MEMBER_ID_REQUIRED with %q", r, done, id)
	}
	_, done, tok := h.join(joinParams(id, "unused"))
	if done {
		h.t.Fatalf("second join of %s answered at once", id)
	}
	return tok
}

func (h *harness) sync(member string, gen int32, assign map[string][]byte) (SyncResult, bool, uint64) {
	h.t.Helper()
	h.token++
	r, done := h.g.Sync(h.now, SyncParams{MemberID: member, Generation: gen, Assignments: assign, Token: h.token})
	h.drain()
	return r, done, h.token
}

func (h *harness) syncedReply(token uint64) SyncResult {
	h.t.Helper()
	r, ok := h.replies[token]
	if !ok || r.Sync == nil {
		h.t.Fatalf("sync %d not answered", token)
	}
	return *r.Sync
}

func (h *harness) wantState(s State) {
	h.t.Helper()
	if got := h.g.State(); got != s {
		h.t.Fatalf("state: got %v, want %v", got, s)
	}
}

// stableOne brings member "a" to Stable in generation 1 with assignment "A".
func stableOne(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	tok := h.newMember("a")
	r := h.joinedReply(tok)
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != "a" || len(r.Members) != 1 || r.Protocol != "range" {
		t.Fatalf("join: got %+v, want generation 1 led by a with 1 member", r)
	}
	h.wantState(CompletingRebalance)
	s, done, _ := h.sync("a", 1, map[string][]byte{"a": []byte("A")})
	if done {
		t.Fatalf("leader sync answered at once: %+v", s)
	}
	if got := h.syncedReply(h.token); string(got.Assignment) != "A" {
		t.Fatalf("assignment: got %q, want A", got.Assignment)
	}
	h.wantState(Stable)
	if len(h.records) != 1 {
		t.Fatalf("records after first sync: got %d, want 1 (group metadata)", len(h.records))
	}
	return h
}

func TestJoinSyncStable(t *testing.T) {
	h := stableOne(t)
	if code := h.g.Heartbeat(h.now, "a", nil, 1); code != 0 {
		t.Fatalf("heartbeat: got %d, want 0", code)
	}
	// A follower-less leader rejoining unchanged in Stable rebalances (Kafka).
	_, done, tok := h.join(joinParams("a", ""))
	if done {
		t.Fatal("leader rejoin answered at once, want a rebalance")
	}
	if r := h.joinedReply(tok); r.Generation != 2 {
		t.Fatalf("generation after leader rejoin: got %d, want 2", r.Generation)
	}
}

func TestSecondMemberRebalance(t *testing.T) {
	h := stableOne(t)
	tokB := h.newMember("b")
	h.wantState(PreparingRebalance)
	if code := h.g.Heartbeat(h.now, "a", nil, 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat of a during rebalance: got %d, want REBALANCE_IN_PROGRESS", code)
	}
	if _, ok := h.replies[tokB]; ok {
		t.Fatal("b answered before a rejoined")
	}
	_, _, tokA := h.join(joinParams("a", ""))
	ra, rb := h.joinedReply(tokA), h.joinedReply(tokB)
	if ra.Generation != 2 || rb.Generation != 2 || len(ra.Members) != 2 || len(rb.Members) != 0 || rb.LeaderID != "a" {
		t.Fatalf("join results: got a=%+v b=%+v, want gen 2, a leads with 2 members", ra, rb)
	}
	_, doneB, sb := h.sync("b", 2, nil)
	if doneB {
		t.Fatal("follower sync answered before the leader's")
	}
	_, _, sa := h.sync("a", 2, map[string][]byte{"a": []byte("A2"), "b": []byte("B2")})
	if got := string(h.syncedReply(sb).Assignment); got != "B2" {
		t.Fatalf("b's assignment: got %q, want B2", got)
	}
	if got := string(h.syncedReply(sa).Assignment); got != "A2" {
		t.Fatalf("a's assignment: got %q, want A2", got)
	}
	h.wantState(Stable)
	// A follower rejoining with unchanged metadata gets the current generation.
	r, done, _ := h.join(joinParams("b", ""))
	if !done || r.Generation != 2 || len(r.Members) != 0 {
		t.Fatalf("follower rejoin: got %+v done=%v, want generation 2 at once", r, done)
	}
	// Changed metadata rebalances.
	p := joinParams("b", "")
	p.Protocols = []Protocol{{Name: "range", Metadata: []byte{2}}}
	if _, done, _ := h.join(p); done {
		t.Fatal("rejoin with new metadata answered at once")
	}
	h.wantState(PreparingRebalance)
}

func TestLeaveAndSessionTimeout(t *testing.T) {
	h := stableOne(t)
	tokB := h.newMember("b")
	_, _, tokA := h.join(joinParams("a", ""))
	h.joinedReply(tokA)
	h.joinedReply(tokB)
	h.sync("a", 2, map[string][]byte{"a": []byte("A"), "b": []byte("B")})
	h.wantState(Stable)

	if code := h.g.Leave(h.now, h.lim, "b", nil); code != 0 {
		t.Fatalf("leave: got %d, want 0", code)
	}
	h.drain()
	h.wantState(PreparingRebalance)
	_, _, tokA = h.join(joinParams("a", ""))
	if r := h.joinedReply(tokA); r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("after leave: got %+v, want generation 3 with 1 member", r)
	}
	h.sync("a", 3, map[string][]byte{"a": []byte("A")})
	h.wantState(Stable)

	h.advance(9 * time.Second)
	h.wantState(Stable)
	h.advance(2 * time.Second)
	if h.g.Member("a") != nil {
		t.Fatal("a survived its session timeout")
	}
	h.wantState(Empty)
	if got := h.g.Generation(); got != 4 {
		t.Fatalf("generation once empty: got %d, want 4", got)
	}
	if code := h.g.Heartbeat(h.now, "a", nil, 3); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after expiry: got %d, want UNKNOWN_MEMBER_ID", code)
	}
}

func TestRebalanceTimeoutRemovesLaggard(t *testing.T) {
	h := stableOne(t)
	tokB := h.newMember("b")
	for range 29 { // a keeps heartbeating but never rejoins
		h.advance(time.Second)
		h.g.Heartbeat(h.now, "a", nil, 1)
	}
	if _, ok := h.replies[tokB]; ok {
		t.Fatal("rebalance completed before its timeout")
	}
	h.advance(time.Second)
	r := h.joinedReply(tokB)
	if r.ErrorCode != 0 || r.Generation != 2 || r.LeaderID != "b" || len(r.Members) != 1 {
		t.Fatalf("after timeout: got %+v, want b leading generation 2 alone", r)
	}
	if h.g.Member("a") != nil {
		t.Fatal("a, which never rejoined, is still a member")
	}
}

func TestInitialDelay(t *testing.T) {
	h := newHarness(t)
	h.lim.InitialRebalanceDelay = 3 * time.Second
	tokA := h.newMember("a")
	h.advance(2 * time.Second)
	tokB := h.newMember("b")
	h.advance(time.Second) // first delay over, b joined: extended by 3s
	if _, ok := h.replies[tokA]; ok {
		t.Fatal("completed although a member joined during the delay")
	}
	h.advance(3 * time.Second)
	ra, rb := h.joinedReply(tokA), h.joinedReply(tokB)
	if ra.Generation != 1 || rb.Generation != 1 || len(ra.Members) != 2 {
		t.Fatalf("got a=%+v b=%+v, want both in generation 1", ra, rb)
	}
}

func TestErrors(t *testing.T) {
	h := stableOne(t)
	p := joinParams("", "x")
	p.SessionTimeout = 2 * time.Hour
	if r, _, _ := h.join(p); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Errorf("session timeout: got %d, want INVALID_SESSION_TIMEOUT", r.ErrorCode)
	}
	p = joinParams("", "x")
	p.ProtocolType = "connect"
	if r, _, _ := h.join(p); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("protocol type: got %d, want INCONSISTENT_GROUP_PROTOCOL", r.ErrorCode)
	}
	p = joinParams("", "x")
	p.Protocols = []Protocol{{Name: "roundrobin"}}
	if r, _, _ := h.join(p); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("protocols: got %d, want INCONSISTENT_GROUP_PROTOCOL", r.ErrorCode)
	}
	if r, _, _ := h.join(joinParams("nobody", "")); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("unknown member join: got %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
	}
	if s, _, _ := h.sync("a", 7, nil); s.ErrorCode != kerr.IllegalGeneration.Code {
		t.Errorf("sync generation: got %d, want ILLEGAL_GENERATION", s.ErrorCode)
	}
	if s, _, _ := h.sync("zz", 1, nil); s.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("sync member: got %d, want UNKNOWN_MEMBER_ID", s.ErrorCode)
	}
	if code := h.g.Heartbeat(h.now, "a", nil, 0); code != kerr.IllegalGeneration.Code {
		t.Errorf("heartbeat generation: got %d, want ILLEGAL_GENERATION", code)
	}
	h.lim.MaxGroupSize = 1
	if r, _, _ := h.join(joinParams("", "y")); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Errorf("full group: got %d, want GROUP_MAX_SIZE_REACHED", r.ErrorCode)
	}
	h.lim.MaxGroupSize = 100
	tokB := h.newMember("b")
	if s, _, _ := h.sync("a", 1, nil); s.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Errorf("sync while preparing: got %d, want REBALANCE_IN_PROGRESS", s.ErrorCode)
	}
	_ = tokB
}

func TestPendingMemberExpires(t *testing.T) {
	h := stableOne(t)
	r, _, _ := h.join(joinParams("", "p"))
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("got %d, want MEMBER_ID_REQUIRED", r.ErrorCode)
	}
	h.advance(11 * time.Second)
	if r, _, _ := h.join(joinParams("p", "")); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("rejoin after pending expiry: got %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
	}
}

func staticParams(member, newID, instance string) JoinParams {
	p := joinParams(member, newID)
	p.InstanceID = &instance
	return p
}

func TestStaticMemberRestart(t *testing.T) {
	h := newHarness(t)
	_, done, tok := h.join(staticParams("", "s1", "i1"))
	if done {
		t.Fatal("static first join answered at once; KIP-394 does not apply to static members")
	}
	if r := h.joinedReply(tok); r.MemberID != "s1" || r.Generation != 1 {
		t.Fatalf("got %+v, want s1 in generation 1", r)
	}
	h.sync("s1", 1, map[string][]byte{"s1": []byte("S")})
	h.wantState(Stable)
	records := len(h.records)

	// Restart: same instance, empty member id, same metadata: no rebalance.
	r, done, _ := h.join(staticParams("", "s2", "i1"))
	if !done || r.ErrorCode != 0 || r.MemberID != "s2" || r.Generation != 1 || r.LeaderID != "s2" || !r.SkipAssignment {
		t.Fatalf("restart: got %+v done=%v, want s2 in generation 1, leader, skip assignment", r, done)
	}
	h.wantState(Stable)
	if len(h.records) != records+1 {
		t.Fatal("replacement not persisted")
	}
	if s, done, _ := h.sync("s2", 1, nil); !done || string(s.Assignment) != "S" {
		t.Fatalf("sync after restart: got %+v, want the old assignment", s)
	}
	// The old member id is fenced.
	if code := h.g.Heartbeat(h.now, "s1", staticParams("", "", "i1").InstanceID, 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old member heartbeat: got %d, want FENCED_INSTANCE_ID", code)
	}
	if r, _, _ := h.join(staticParams("s1", "", "i1")); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old member join: got %d, want FENCED_INSTANCE_ID", r.ErrorCode)
	}
	// Leaving by instance id alone removes it.
	inst := "i1"
	if code := h.g.Leave(h.now, h.lim, "", &inst); code != 0 {
		t.Fatalf("leave by instance: got %d, want 0", code)
	}
	h.drain()
	h.wantState(Empty)
}

func TestConcurrentJoinsNoUnknownMember(t *testing.T) {
	// Members joining while a rebalance is in flight, and a static restart
	// during it, never see UNKNOWN_MEMBER_ID.
	h := stableOne(t)
	tokB := h.newMember("b")
	tokC := h.newMember("c")
	_, _, tokS := h.join(staticParams("", "s", "i"))
	_, _, tokA := h.join(joinParams("a", ""))
	for name, tok := range map[string]uint64{"a": tokA, "b": tokB, "c": tokC, "s": tokS} {
		if r := h.joinedReply(tok); r.ErrorCode != 0 || r.Generation != 2 {
			t.Fatalf("%s: got %+v, want generation 2 without error", name, r)
		}
	}
	if got := len(h.g.Members()); got != 4 {
		t.Fatalf("members: got %d, want 4", got)
	}
}

func TestSelectProtocol(t *testing.T) {
	h := newHarness(t)
	h.g.addMember(&Member{ID: "1", Protocols: []Protocol{{Name: "range"}, {Name: "cooperative-sticky"}}})
	h.g.addMember(&Member{ID: "2", Protocols: []Protocol{{Name: "cooperative-sticky"}, {Name: "range"}}})
	h.g.addMember(&Member{ID: "3", Protocols: []Protocol{{Name: "cooperative-sticky"}, {Name: "range"}, {Name: "x"}}})
	if got := h.g.selectProtocol(); got != "cooperative-sticky" {
		t.Fatalf("got %q, want cooperative-sticky (2 votes of 3)", got)
	}
}
