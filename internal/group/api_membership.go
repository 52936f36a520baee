package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a JoinGroup came on, as DescribeGroups
// reports it.
type Client struct {
	ID   string // the request header's client id
	Host string // the client's address, as Kafka prints it ("/127.0.0.1")
}

// JoinGroup serves JoinGroup (key 11). It blocks until the group's
// rebalance completes (or the member is told MEMBER_ID_REQUIRED, or an
// error), or until ctx ends, which answers REBALANCE_IN_PROGRESS so that the
// client rejoins.
func (c *Coordinator) JoinGroup(ctx context.Context, client Client, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	rebalance := req.RebalanceTimeoutMillis
	if req.Version == 0 || rebalance <= 0 {
		rebalance = req.SessionTimeoutMillis
	}
	p := JoinParams{
		MemberID:             req.MemberID,
		InstanceID:           req.InstanceID,
		ClientID:             client.ID,
		ClientHost:           client.Host,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(rebalance) * time.Millisecond,
		ProtocolType:         req.ProtocolType,
		RequireKnownMemberID: req.Version >= 4,
		NewMemberID:          newMemberID(client.ID),
	}
	for _, pr := range req.Protocols {
		p.Protocols = append(p.Protocols, Protocol{Name: pr.Name, Metadata: pr.Metadata})
	}
	var res JoinResult
	r, code := c.await(ctx, req.Group, req.MemberID == "", func(g *Group, now time.Time, token uint64) bool {
		p.Token = token
		var done bool
		res, done = g.Join(now, c.lim, p)
		return done
	})
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if r != nil {
		res = *r.Join
	}
	resp.ErrorCode = res.ErrorCode
	resp.Generation = res.Generation
	resp.MemberID = res.MemberID
	if res.ErrorCode != 0 {
		return resp
	}
	resp.ProtocolType = &res.ProtocolType
	resp.Protocol = &res.Protocol
	resp.LeaderID = res.LeaderID
	resp.SkipAssignment = res.SkipAssignment
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// SyncGroup serves SyncGroup (key 14). In CompletingRebalance it blocks
// until the leader's assignment arrives, or ctx ends (REBALANCE_IN_PROGRESS).
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	p := SyncParams{MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation}
	if req.Version >= 5 {
		p.ProtocolType, p.Protocol = req.ProtocolType, req.Protocol
	}
	if len(req.GroupAssignment) > 0 {
		p.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			p.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	var res SyncResult
	r, code := c.await(ctx, req.Group, false, func(g *Group, now time.Time, token uint64) bool {
		p.Token = token
		var done bool
		res, done = g.Sync(now, p)
		return done
	})
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if r != nil {
		res = *r.Sync
	}
	resp.ErrorCode = res.ErrorCode
	if res.ErrorCode == 0 {
		resp.ProtocolType = &res.ProtocolType
		resp.Protocol = &res.Protocol
		resp.MemberAssignment = res.Assignment
	}
	return resp
}

// Heartbeat serves Heartbeat (key 12).
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	code := c.withGroup(ctx, req.Group, false, func(g *Group, now time.Time, _ Store) {
		resp.ErrorCode = g.Heartbeat(now, req.MemberID, req.InstanceID, req.Generation)
	})
	if code == kerr.GroupIDNotFound.Code {
		code = kerr.UnknownMemberID.Code
	}
	if code != 0 {
		resp.ErrorCode = code
	}
	return resp
}

// LeaveGroup serves LeaveGroup (key 13): one member by id (v0-2) or a batch
// of members by member id and/or instance id (v3+, KIP-345), each answered
// on its own.
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(members))
	code := c.withGroup(ctx, req.Group, false, func(g *Group, now time.Time, _ Store) {
		for i, m := range members {
			codes[i] = g.Leave(now, c.lim, m.MemberID, m.InstanceID)
		}
	})
	if code == kerr.GroupIDNotFound.Code {
		code = 0
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, m := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// await runs step on the group with a fresh reply token. When step answers
// at once (true) await returns a nil reply; otherwise it waits for the reply
// the group queues under the token. A request for a group that does not
// exist is UNKNOWN_MEMBER_ID, as in Kafka, and a wait cut short by ctx is
// REBALANCE_IN_PROGRESS, so the client rejoins.
func (c *Coordinator) await(ctx context.Context, group string, create bool, step func(g *Group, now time.Time, token uint64) bool) (*Reply, int16) {
	token, ch := c.register()
	var done bool
	code := c.withGroup(ctx, group, create, func(g *Group, now time.Time, _ Store) {
		done = step(g, now, token)
	})
	if code == kerr.GroupIDNotFound.Code {
		code = kerr.UnknownMemberID.Code
	}
	if code != 0 || done {
		c.unregister(token)
		return nil, code
	}
	r, ok := c.wait(ctx, token, ch)
	if !ok {
		return nil, kerr.RebalanceInProgress.Code
	}
	return &r, 0
}
