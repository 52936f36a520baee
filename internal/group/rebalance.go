package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// JoinParams is one JoinGroup request as the state machine sees it.
type JoinParams struct {
	MemberID         string // "" for a new member
	InstanceID       *string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	// RequireKnownMemberID is true for JoinGroup v4+ (KIP-394): a new
	// dynamic member is first handed a member id to rejoin with.
	RequireKnownMemberID bool
	// NewMemberID is the id to give a new member; the driver generates it
	// ("<clientId>-<uuid>") so that the state machine stays deterministic.
	NewMemberID string
	// Token identifies this request if it has to wait; non-zero.
	Token uint64
}

// JoinResult is the answer to a JoinGroup.
type JoinResult struct {
	ErrorCode      int16
	Generation     int32
	ProtocolType   string
	Protocol       string
	LeaderID       string
	MemberID       string
	SkipAssignment bool
	Members        []JoinMember // the leader's view; empty for followers
}

// JoinMember is one member as the leader learns it.
type JoinMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// Limits are the broker settings the state machine checks.
type Limits struct {
	MinSessionTimeout, MaxSessionTimeout time.Duration
	InitialRebalanceDelay                time.Duration
	MaxGroupSize                         int
}

// Join handles a JoinGroup. It returns the answer and true when the request
// is answered now; false when the request waits, to be answered later by a
// Reply carrying p.Token.
func (g *Group) Join(now time.Time, lim Limits, p JoinParams) (JoinResult, bool) {
	fail := func(code int16) (JoinResult, bool) {
		return JoinResult{ErrorCode: code, MemberID: p.MemberID, Generation: -1}, true
	}
	if p.SessionTimeout < lim.MinSessionTimeout || p.SessionTimeout > lim.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	if g.state == Dead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if p.MemberID == "" {
		return g.joinNew(now, lim, p)
	}
	if _, ok := g.pending[p.MemberID]; ok {
		if !g.acceptJoin(lim, p.MemberID) {
			return fail(kerr.GroupMaxSizeReached.Code)
		}
		if !g.supportsProtocols(p.ProtocolType, p.Protocols) {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		delete(g.pending, p.MemberID)
		g.addAndRebalance(now, lim, p, p.MemberID)
		return JoinResult{}, false
	}
	if g.fencedInstance(p.InstanceID, p.MemberID) {
		return fail(kerr.FencedInstanceID.Code)
	}
	m := g.members[p.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if !g.supportsProtocols(p.ProtocolType, p.Protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	switch g.state {
	case PreparingRebalance:
		g.updateAndRebalance(now, lim, m, p)
		return JoinResult{}, false
	case CompletingRebalance:
		if m.sameProtocols(p.Protocols) {
			// A retried join: the same answer as the completed one.
			return g.joinResult(m, false), true
		}
		g.updateAndRebalance(now, lim, m, p)
		return JoinResult{}, false
	case Stable:
		if m.ID == g.leader || !m.sameProtocols(p.Protocols) {
			g.updateAndRebalance(now, lim, m, p)
			return JoinResult{}, false
		}
		m.deadline = now.Add(m.SessionTimeout)
		return g.joinResult(m, false), true
	default: // Empty has no members
		return fail(kerr.UnknownMemberID.Code)
	}
}

// joinNew handles a join with no member id.
func (g *Group) joinNew(now time.Time, lim Limits, p JoinParams) (JoinResult, bool) {
	fail := func(code int16) (JoinResult, bool) {
		return JoinResult{ErrorCode: code, Generation: -1}, true
	}
	if !g.acceptJoin(lim, "") {
		return fail(kerr.GroupMaxSizeReached.Code)
	}
	if !g.supportsProtocols(p.ProtocolType, p.Protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if p.InstanceID != nil {
		if old, ok := g.static[*p.InstanceID]; ok {
			return g.replaceStatic(now, lim, g.members[old], p)
		}
		g.addAndRebalance(now, lim, p, p.NewMemberID)
		return JoinResult{}, false
	}
	if p.RequireKnownMemberID {
		g.pending[p.NewMemberID] = now.Add(p.SessionTimeout)
		return JoinResult{ErrorCode: kerr.MemberIDRequired.Code, MemberID: p.NewMemberID, Generation: -1}, true
	}
	g.addAndRebalance(now, lim, p, p.NewMemberID)
	return JoinResult{}, false
}

// acceptJoin is Kafka's group.max.size check for a joining member.
func (g *Group) acceptJoin(lim Limits, memberID string) bool {
	switch g.state {
	case Empty, Dead:
		return true
	case PreparingRebalance:
		if m := g.members[memberID]; m != nil && m.joined {
			return true
		}
		return g.numJoined() < lim.MaxGroupSize
	default:
		return g.members[memberID] != nil || len(g.members) < lim.MaxGroupSize
	}
}

func (g *Group) numJoined() int {
	n := 0
	for _, m := range g.members {
		if m.joined {
			n++
		}
	}
	return n
}

// replaceStatic gives a known static instance a new member id (KIP-345). In
// Stable, when the selected protocol would not change, no rebalance is done:
// the new member inherits the old one's assignment.
func (g *Group) replaceStatic(now time.Time, lim Limits, old *Member, p JoinParams) (JoinResult, bool) {
	g.answerWaiting(old, kerr.FencedInstanceID.Code)
	m := *old
	m.ID = p.NewMemberID
	m.ClientID, m.ClientHost = p.ClientID, p.ClientHost
	m.joinToken, m.syncToken, m.joined = 0, 0, false
	delete(g.members, old.ID)
	g.members[m.ID] = &m
	for i, id := range g.order {
		if id == old.ID {
			g.order[i] = m.ID
		}
	}
	g.static[*p.InstanceID] = m.ID
	if g.leader == old.ID {
		g.leader = m.ID
	}
	oldProtocols := m.Protocols
	m.Protocols = p.Protocols
	if g.state == Stable && g.selectProtocol() == g.protocol {
		m.SessionTimeout, m.RebalanceTimeout = p.SessionTimeout, p.RebalanceTimeout
		m.deadline = now.Add(m.SessionTimeout)
		g.out.Records = append(g.out.Records, g.metadataRecord(now))
		isLeader := m.ID == g.leader
		return g.joinResult(&m, isLeader), true
	}
	m.Protocols = oldProtocols
	g.updateAndRebalance(now, lim, &m, p)
	return JoinResult{}, false
}

// addAndRebalance adds a member that waits in JoinGroup and starts or
// advances a rebalance.
func (g *Group) addAndRebalance(now time.Time, lim Limits, p JoinParams, id string) {
	m := &Member{ID: id}
	g.setFromJoin(now, m, p)
	g.addMember(m)
	if g.state == PreparingRebalance && g.initialDelay {
		g.joinedDuringDelay = true
	}
	g.prepareRebalance(now, lim)
	g.maybeCompleteJoin(now)
}

// updateAndRebalance records a known member's rejoin and starts or advances
// a rebalance.
func (g *Group) updateAndRebalance(now time.Time, lim Limits, m *Member, p JoinParams) {
	if m.joinToken != 0 && m.joinToken != p.Token {
		g.out.Replies = append(g.out.Replies, Reply{Token: m.joinToken, Join: &JoinResult{ErrorCode: kerr.RebalanceInProgress.Code, MemberID: m.ID, Generation: -1}})
	}
	g.setFromJoin(now, m, p)
	g.prepareRebalance(now, lim)
	g.maybeCompleteJoin(now)
}

func (g *Group) setFromJoin(now time.Time, m *Member, p JoinParams) {
	m.InstanceID = p.InstanceID
	m.ClientID, m.ClientHost = p.ClientID, p.ClientHost
	m.SessionTimeout, m.RebalanceTimeout = p.SessionTimeout, p.RebalanceTimeout
	m.ProtocolType, m.Protocols = p.ProtocolType, p.Protocols
	m.joinToken, m.joined = p.Token, true
	m.deadline = now.Add(m.SessionTimeout)
}

// prepareRebalance moves a group that can rebalance to PreparingRebalance;
// in PreparingRebalance it does nothing.
func (g *Group) prepareRebalance(now time.Time, lim Limits) {
	switch g.state {
	case PreparingRebalance, Dead:
		return
	case CompletingRebalance:
		for _, m := range g.members {
			m.Assignment = nil
			if m.syncToken != 0 {
				g.out.Replies = append(g.out.Replies, Reply{Token: m.syncToken, Sync: &SyncResult{ErrorCode: kerr.RebalanceInProgress.Code}})
				m.syncToken = 0
			}
		}
	}
	timeout := g.maxRebalanceTimeout()
	g.initialDelay = g.state == Empty && lim.InitialRebalanceDelay > 0
	if g.initialDelay {
		g.delayStep = lim.InitialRebalanceDelay
		g.delayRemaining = max(timeout-lim.InitialRebalanceDelay, 0)
		g.joinedDuringDelay = false
		g.rebalanceDeadline = now.Add(lim.InitialRebalanceDelay)
	} else {
		g.rebalanceDeadline = now.Add(timeout)
	}
	for _, m := range g.members {
		if m.joinToken == 0 {
			m.joined = false
		}
	}
	g.transition(PreparingRebalance, now)
}

// maybeCompleteJoin completes the rebalance if every member and every
// pending member has joined (never during an initial delay).
func (g *Group) maybeCompleteJoin(now time.Time) {
	if g.state != PreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if !m.joined {
			return
		}
	}
	g.completeJoin(now)
}

// completeJoin ends PreparingRebalance: members that did not rejoin are
// removed, the generation advances and every joined member is answered.
func (g *Group) completeJoin(now time.Time) {
	for _, id := range append([]string(nil), g.order...) {
		if !g.members[id].joined {
			g.removeMember(id)
		}
	}
	g.initialDelay = false
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.transition(Empty, now)
		g.out.Records = append(g.out.Records, g.metadataRecord(now))
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance, now)
	for _, id := range g.order {
		m := g.members[id]
		m.joined = false
		m.deadline = now.Add(m.SessionTimeout)
		if m.joinToken != 0 {
			r := g.joinResult(m, false)
			g.out.Replies = append(g.out.Replies, Reply{Token: m.joinToken, Join: &r})
			m.joinToken = 0
		}
	}
}

// joinResult is the current generation's answer for m; the leader learns
// every member's metadata.
func (g *Group) joinResult(m *Member, skipAssignment bool) JoinResult {
	r := JoinResult{
		Generation:     g.generation,
		ProtocolType:   g.protocolType,
		Protocol:       g.protocol,
		LeaderID:       g.leader,
		MemberID:       m.ID,
		SkipAssignment: skipAssignment,
	}
	if m.ID == g.leader {
		for _, id := range g.order {
			o := g.members[id]
			r.Members = append(r.Members, JoinMember{MemberID: o.ID, InstanceID: o.InstanceID, Metadata: o.metadataFor(g.protocol)})
		}
	}
	return r
}

// Tick runs every timer that is due at now: expired pending member ids,
// expired sessions, and the end of a rebalance or of an initial delay.
func (g *Group) Tick(now time.Time, lim Limits) {
	for id, d := range g.pending {
		if !now.Before(d) {
			delete(g.pending, id)
			g.maybeCompleteJoin(now)
		}
	}
	if g.state == PreparingRebalance && !now.Before(g.rebalanceDeadline) {
		if g.initialDelay && g.joinedDuringDelay && g.delayRemaining > 0 {
			step := min(g.delayStep, g.delayRemaining)
			g.delayRemaining -= step
			g.joinedDuringDelay = false
			g.rebalanceDeadline = now.Add(step)
		} else {
			g.initialDelay = false
			g.completeJoin(now)
		}
	}
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if m == nil || m.joinToken != 0 || m.syncToken != 0 || now.Before(m.deadline) {
			continue
		}
		g.removeAndRebalance(now, lim, id)
	}
}

// removeAndRebalance removes a member (left or expired) and rebalances the
// rest.
func (g *Group) removeAndRebalance(now time.Time, lim Limits, id string) {
	g.removeMember(id)
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now, lim)
		g.maybeCompleteJoin(now)
	case PreparingRebalance:
		g.maybeCompleteJoin(now)
	}
}

// StoreFailed tells the group that appending its last records failed: the
// assignments are dropped and a live group rebalances, so that members do
// not run on an assignment the log does not hold (Kafka does the same).
func (g *Group) StoreFailed(now time.Time, lim Limits) {
	if g.state != Stable && g.state != CompletingRebalance {
		return
	}
	for _, m := range g.members {
		m.Assignment = nil
	}
	g.prepareRebalance(now, lim)
}
