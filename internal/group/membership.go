package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// SyncParams is one SyncGroup request as the state machine sees it.
type SyncParams struct {
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string           // v5+, nil when not sent
	Protocol     *string           // v5+, nil when not sent
	Assignments  map[string][]byte // the leader's, by member id
	Token        uint64
}

// SyncResult is the answer to a SyncGroup.
type SyncResult struct {
	ErrorCode    int16
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// Sync handles a SyncGroup. It returns the answer and true when answered
// now; false when the request waits for the leader's assignment (a Reply
// with p.Token).
func (g *Group) Sync(now time.Time, p SyncParams) (SyncResult, bool) {
	fail := func(code int16) (SyncResult, bool) { return SyncResult{ErrorCode: code}, true }
	switch {
	case g.state == Dead:
		return fail(kerr.CoordinatorNotAvailable.Code)
	case g.fencedInstance(p.InstanceID, p.MemberID):
		return fail(kerr.FencedInstanceID.Code)
	case g.members[p.MemberID] == nil:
		return fail(kerr.UnknownMemberID.Code)
	case p.Generation != g.generation:
		return fail(kerr.IllegalGeneration.Code)
	case p.ProtocolType != nil && *p.ProtocolType != g.protocolType,
		p.Protocol != nil && *p.Protocol != g.protocol:
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m := g.members[p.MemberID]
	switch g.state {
	case PreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case CompletingRebalance:
		m.deadline = now.Add(m.SessionTimeout)
		if m.syncToken != 0 && m.syncToken != p.Token {
			g.out.Replies = append(g.out.Replies, Reply{Token: m.syncToken, Sync: &SyncResult{ErrorCode: kerr.RebalanceInProgress.Code}})
		}
		m.syncToken = p.Token
		if m.ID == g.leader {
			for _, o := range g.members {
				o.Assignment = p.Assignments[o.ID]
			}
			g.out.Records = append(g.out.Records, g.metadataRecord(now))
			g.transition(Stable, now)
			for _, id := range g.order {
				o := g.members[id]
				if o.syncToken != 0 {
					r := g.syncResult(o)
					g.out.Replies = append(g.out.Replies, Reply{Token: o.syncToken, Sync: &r})
					o.syncToken = 0
					o.deadline = now.Add(o.SessionTimeout)
				}
			}
		}
		return SyncResult{}, false
	case Stable:
		m.deadline = now.Add(m.SessionTimeout)
		return g.syncResult(m), true
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
}

func (g *Group) syncResult(m *Member) SyncResult {
	return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.Assignment}
}

// Heartbeat handles a Heartbeat and returns its error code. A heartbeat
// from a current member restarts its session.
func (g *Group) Heartbeat(now time.Time, memberID string, instanceID *string, generation int32) int16 {
	switch {
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable.Code
	case g.fencedInstance(instanceID, memberID):
		return kerr.FencedInstanceID.Code
	case g.members[memberID] == nil:
		return kerr.UnknownMemberID.Code
	case generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	m := g.members[memberID]
	switch g.state {
	case PreparingRebalance:
		m.deadline = now.Add(m.SessionTimeout)
		return kerr.RebalanceInProgress.Code
	case CompletingRebalance, Stable:
		m.deadline = now.Add(m.SessionTimeout)
		return 0
	default:
		return kerr.UnknownMemberID.Code
	}
}

// Leave removes one member (LeaveGroup) and returns its error code. A static
// member may be named by instance id alone (memberID ""); naming it with a
// member id that is not the instance's current one is FENCED_INSTANCE_ID.
func (g *Group) Leave(now time.Time, lim Limits, memberID string, instanceID *string) int16 {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if memberID == "" && instanceID != nil {
		id, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		memberID = id
	}
	if g.fencedInstance(instanceID, memberID) {
		return kerr.FencedInstanceID.Code
	}
	if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		g.maybeCompleteJoin(now)
		return 0
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeAndRebalance(now, lim, memberID)
	return 0
}
