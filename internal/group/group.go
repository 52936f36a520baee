// Package group is the consumer group coordinator for Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the committed
// offsets kept in __consumer_offsets.
//
// The package has two layers. Group is a pure state machine for one group:
// every method takes the current time as an argument, never reads a clock,
// starts no goroutine and does no I/O; what it wants done (answer a waiting
// JoinGroup or SyncGroup, append records) is returned as Effects. Coordinator
// is the driver: it owns the locks, the waiting requests, the timers (Run) and
// the __consumer_offsets partitions (Store), and translates kmsg requests.
//
// Semantics follow Apache Kafka's classic GroupCoordinator, with KIP-394
// (member id required on first join), KIP-345 (static membership), KIP-211
// (offsets of empty groups expire) and KIP-429 (cooperative rebalancing,
// which needs nothing from the broker beyond correct rebalances).
package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is the state of a group, named as Kafka names it.
type State int8

// The group states. Dead is terminal: a Dead group has been deleted or
// unloaded and is no longer in the coordinator's map.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

// String returns Kafka's name of the state, as DescribeGroups and ListGroups
// report it.
func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	default:
		return "Dead"
	}
}

// Protocol is one assignment protocol a member supports, with its metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

// Member is one member of a group. Fields are read-only outside this package.
type Member struct {
	ID               string
	InstanceID       *string // group.instance.id, nil for a dynamic member
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	Assignment       []byte

	joinToken uint64    // non-zero: a JoinGroup is waiting for the rebalance
	joined    bool      // rejoined in the current rebalance
	syncToken uint64    // non-zero: a SyncGroup is waiting for the assignment
	deadline  time.Time // session expiry
}

// metadataFor returns the member's metadata for the protocol name.
func (m *Member) metadataFor(name string) []byte {
	for _, p := range m.Protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// sameProtocols reports whether ps equals the member's protocols, in order,
// names and metadata.
func (m *Member) sameProtocols(ps []Protocol) bool {
	return slices.EqualFunc(m.Protocols, ps, func(a, b Protocol) bool {
		return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
	})
}

// Group is the pure state machine of one group. It is not safe for
// concurrent use; the Coordinator serializes access.
//
// Invariant: every member is in members exactly once and in order (join
// order), and every static member's instance id maps to its member id in
// static.
type Group struct {
	ID           string
	state        State
	protocolType string // "" until the first member joins (or a simple group)
	protocol     string // selected protocol of the current generation
	generation   int32
	leader       string
	members      map[string]*Member
	order        []string             // member ids in join order
	static       map[string]string    // instance id -> member id
	pending      map[string]time.Time // KIP-394 member ids handed out, with their expiry
	stateSince   time.Time            // when the group entered its state (KIP-211)

	rebalanceDeadline time.Time // PreparingRebalance: completes at the latest then
	initialDelay      bool      // rebalanceDeadline is an initial delay (InitialDelayedJoin)
	delayStep         time.Duration
	delayRemaining    time.Duration
	joinedDuringDelay bool

	offsets map[TopicPartition]Offset
	// txnOffsets are transactional offset commits in the log whose
	// transaction has not ended, by producer id (Kafka's
	// pendingTransactionalOffsetCommits). A COMMIT marker moves them into
	// offsets, an ABORT drops them.
	txnOffsets map[int64]map[TopicPartition]Offset
	// seq stamps every offset applied, in log order: a transaction's
	// offsets replace only offsets stamped before them.
	seq uint64

	out Effects
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is one committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	CommitTime  time.Time

	seq uint64 // the group's seq when its record was applied
}

// Reply answers a request that was told to wait (JoinGroup or SyncGroup),
// addressed by the token the driver passed in. Exactly one of Join and Sync is
// set.
type Reply struct {
	Token uint64
	Join  *JoinResult
	Sync  *SyncResult
}

// Effects is what the state machine asks its driver to do, in order: append
// Records to the group's __consumer_offsets partition, then deliver Replies.
type Effects struct {
	Records []Record
	Replies []Reply
}

// NewGroup returns an Empty group.
func NewGroup(id string, now time.Time) *Group {
	return &Group{
		ID:         id,
		members:    map[string]*Member{},
		static:     map[string]string{},
		pending:    map[string]time.Time{},
		offsets:    map[TopicPartition]Offset{},
		txnOffsets: map[int64]map[TopicPartition]Offset{},
		stateSince: now,
	}
}

// State returns the group's state.
func (g *Group) State() State { return g.state }

// Generation returns the current generation id.
func (g *Group) Generation() int32 { return g.generation }

// Leader returns the leader's member id, "" if none.
func (g *Group) Leader() string { return g.leader }

// ProtocolType returns the group's protocol type, "" for a group with no
// members that only stores offsets.
func (g *Group) ProtocolType() string { return g.protocolType }

// Protocol returns the selected protocol of the current generation.
func (g *Group) Protocol() string { return g.protocol }

// Members returns the members in join order. The slice is new; the members
// are the group's own and must not be modified.
func (g *Group) Members() []*Member {
	ms := make([]*Member, 0, len(g.order))
	for _, id := range g.order {
		ms = append(ms, g.members[id])
	}
	return ms
}

// Member returns the member with the id, or nil.
func (g *Group) Member(id string) *Member { return g.members[id] }

// TakeEffects returns and clears the effects accumulated since the last call.
func (g *Group) TakeEffects() Effects {
	e := g.out
	g.out = Effects{}
	return e
}

func (g *Group) transition(s State, now time.Time) {
	g.state = s
	g.stateSince = now
}

func (g *Group) addMember(m *Member) {
	if len(g.members) == 0 && m.ProtocolType != "" {
		g.protocolType = m.ProtocolType
	}
	g.members[m.ID] = m
	g.order = append(g.order, m.ID)
	if m.InstanceID != nil {
		g.static[*m.InstanceID] = m.ID
	}
	if g.leader == "" {
		g.leader = m.ID
	}
}

// removeMember drops a member and answers its waiting requests with
// UNKNOWN_MEMBER_ID. It does not change the group's state.
func (g *Group) removeMember(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	g.answerWaiting(m, kerr.UnknownMemberID.Code)
	delete(g.members, id)
	g.order = slices.DeleteFunc(g.order, func(s string) bool { return s == id })
	if m.InstanceID != nil && g.static[*m.InstanceID] == id {
		delete(g.static, *m.InstanceID)
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// answerWaiting answers the member's waiting JoinGroup and SyncGroup with code.
func (g *Group) answerWaiting(m *Member, code int16) {
	if m.joinToken != 0 {
		g.out.Replies = append(g.out.Replies, Reply{Token: m.joinToken, Join: &JoinResult{ErrorCode: code, MemberID: m.ID, Generation: -1}})
		m.joinToken = 0
	}
	if m.syncToken != 0 {
		g.out.Replies = append(g.out.Replies, Reply{Token: m.syncToken, Sync: &SyncResult{ErrorCode: code}})
		m.syncToken = 0
	}
}

// supportsProtocols reports whether a member with protocol type pt and
// protocols ps may join: the type must match and, for a non-empty group, one
// of ps must be supported by every member.
func (g *Group) supportsProtocols(pt string, ps []Protocol) bool {
	if pt == "" || len(ps) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true // the first member sets the protocol type
	}
	if g.protocolType != pt {
		return false
	}
	for _, p := range ps {
		if g.supportedByAll(p.Name, "") {
			return true
		}
	}
	return false
}

// supportedByAll reports whether every member except skip supports name.
func (g *Group) supportedByAll(name, skip string) bool {
	for _, m := range g.members {
		if m.ID == skip {
			continue
		}
		if !slices.ContainsFunc(m.Protocols, func(p Protocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol is Kafka's vote: among the protocols every member supports,
// each member votes for the first of them in its own preference order; the
// most votes win, ties going to the earliest in the leader's (first
// member's) order.
func (g *Group) selectProtocol() string {
	if len(g.order) == 0 {
		return ""
	}
	var candidates []string
	for _, p := range g.members[g.order[0]].Protocols {
		if g.supportedByAll(p.Name, "") && !slices.Contains(candidates, p.Name) {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].Protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// maxRebalanceTimeout is the largest rebalance timeout of the members.
func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.RebalanceTimeout)
	}
	return d
}

// fencedInstance reports whether instanceID belongs to a static member with
// another member id than memberID.
func (g *Group) fencedInstance(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.static[*instanceID]
	return ok && id != memberID
}

// NextDeadline returns the earliest time at which Tick has work, and false
// if there is none.
func (g *Group) NextDeadline() (time.Time, bool) {
	var t time.Time
	consider := func(d time.Time) {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	if g.state == PreparingRebalance {
		consider(g.rebalanceDeadline)
	}
	for _, d := range g.pending {
		consider(d)
	}
	for _, m := range g.members {
		if m.joinToken == 0 && m.syncToken == 0 {
			consider(m.deadline)
		}
	}
	return t, !t.IsZero()
}

// Close answers every waiting request with code and makes the group Dead;
// the driver calls it when the group's partition is unloaded.
func (g *Group) Close(now time.Time, code int16) {
	for _, m := range g.members {
		g.answerWaiting(m, code)
	}
	g.transition(Dead, now)
}

// unused reports whether the group holds nothing worth keeping: never had a
// generation, no members, no pending member ids, no offsets.
func (g *Group) unused() bool {
	return g.state == Empty && g.generation == 0 && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && len(g.txnOffsets) == 0
}
