package broker

// Authorization of the group APIs, as Kafka's KafkaApis checks them, in
// front of the group coordinator (which knows nothing of principals):
//
//	JoinGroup, SyncGroup, Heartbeat, LeaveGroup: READ on the group.
//	OffsetCommit: READ on the group, then READ on each topic.
//	OffsetFetch: DESCRIBE on each group, then DESCRIBE on each topic; an
//	    all-topics fetch leaves out the topics not describable.
//	OffsetDelete: DELETE on the group, then READ on each topic.
//	DescribeGroups: DESCRIBE on each group (v3+ authorized operations).
//	ListGroups: DESCRIBE on the cluster, or only the groups describable.
//	DeleteGroups: DELETE on each group.
//
// A denied group is GROUP_AUTHORIZATION_FAILED, a denied topic
// TOPIC_AUTHORIZATION_FAILED; what is allowed goes to the coordinator.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
)

// groupAllowed reports whether req's sender may do op on group.
func (b *Broker) groupAllowed(req *Request, op auth.Operation, group string) bool {
	return b.allowed(req, op, auth.ResourceGroup, group)
}

// split divides items into those whose topic keep accepts and the rest,
// keeping a nil list nil.
func split[T any](items []T, topic func(T) string, keep func(string) bool) (kept, dropped []T) {
	if items == nil {
		return nil, nil
	}
	kept = make([]T, 0, len(items))
	for _, it := range items {
		if keep(topic(it)) {
			kept = append(kept, it)
		} else {
			dropped = append(dropped, it)
		}
	}
	return kept, dropped
}

func (b *Broker) joinGroup(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.JoinGroupRequest)
	if !b.groupAllowed(req, auth.OpRead, r.Group) {
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	return b.groups.JoinGroup(ctx, clientOf(req), r)
}

func (b *Broker) syncGroup(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.SyncGroupRequest)
	if !b.groupAllowed(req, auth.OpRead, r.Group) {
		resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	return b.groups.SyncGroup(ctx, r)
}

func (b *Broker) heartbeat(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.HeartbeatRequest)
	if !b.groupAllowed(req, auth.OpRead, r.Group) {
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	return b.groups.Heartbeat(ctx, r)
}

func (b *Broker) leaveGroup(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	if !b.groupAllowed(req, auth.OpRead, r.Group) {
		resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	return b.groups.LeaveGroup(ctx, r)
}

func (b *Broker) offsetCommit(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	if !b.authorizationOn() {
		return b.groups.OffsetCommit(ctx, r)
	}
	if !b.groupAllowed(req, auth.OpRead, r.Group) {
		return commitDenied(r, r.Topics, kerr.GroupAuthorizationFailed)
	}
	kept, denied := split(r.Topics, func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic }, b.topicsAllowed(req, auth.OpRead))
	if len(denied) == 0 {
		return b.groups.OffsetCommit(ctx, r)
	}
	resp := commitDenied(r, denied, kerr.TopicAuthorizationFailed)
	if len(kept) > 0 {
		allowed := *r
		allowed.Topics = kept
		resp.Topics = append(b.groups.OffsetCommit(ctx, &allowed).Topics, resp.Topics...)
	}
	return resp
}

// commitDenied answers every partition of topics with code.
func commitDenied(r *kmsg.OffsetCommitRequest, topics []kmsg.OffsetCommitRequestTopic, code *kerr.Error) *kmsg.OffsetCommitResponse {
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (b *Broker) offsetFetch(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	if !b.authorizationOn() {
		return b.groups.OffsetFetch(ctx, r)
	}
	describable := b.topicsAllowed(req, auth.OpDescribe)
	if req.Version < 8 {
		if !b.groupAllowed(req, auth.OpDescribe, r.Group) {
			resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return resp
		}
		allowed := *r
		var denied []kmsg.OffsetFetchRequestTopic
		allowed.Topics, denied = split(r.Topics, func(t kmsg.OffsetFetchRequestTopic) string { return t.Topic }, describable)
		resp := b.groups.OffsetFetch(ctx, &allowed)
		resp.Topics, _ = split(resp.Topics, func(t kmsg.OffsetFetchResponseTopic) string { return t.Topic }, describable)
		for _, t := range denied {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	allowed := *r
	allowed.Groups = nil
	denied := map[string][]kmsg.OffsetFetchRequestGroupTopic{}
	var deniedGroups []string
	for _, g := range r.Groups {
		if !b.groupAllowed(req, auth.OpDescribe, g.Group) {
			deniedGroups = append(deniedGroups, g.Group)
			continue
		}
		var d []kmsg.OffsetFetchRequestGroupTopic
		g.Topics, d = split(g.Topics, func(t kmsg.OffsetFetchRequestGroupTopic) string { return t.Topic }, describable)
		denied[g.Group] = d
		allowed.Groups = append(allowed.Groups, g)
	}
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if len(allowed.Groups) > 0 {
		resp = b.groups.OffsetFetch(ctx, &allowed)
	}
	for i := range resp.Groups {
		g := &resp.Groups[i]
		g.Topics, _ = split(g.Topics, func(t kmsg.OffsetFetchResponseGroupTopic) string { return t.Topic }, describable)
		for _, t := range denied[g.Group] {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
	}
	for _, name := range deniedGroups {
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

func (b *Broker) offsetDelete(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	if !b.authorizationOn() {
		return b.groups.OffsetDelete(ctx, r)
	}
	if !b.groupAllowed(req, auth.OpDelete, r.Group) {
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	allowed := *r
	var denied []kmsg.OffsetDeleteRequestTopic
	allowed.Topics, denied = split(r.Topics, func(t kmsg.OffsetDeleteRequestTopic) string { return t.Topic }, b.topicsAllowed(req, auth.OpRead))
	resp := b.groups.OffsetDelete(ctx, &allowed)
	for _, t := range denied {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (b *Broker) describeGroups(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	withOps := req.Version >= 3 && r.IncludeAuthorizedOperations
	if !b.authorizationOn() && !withOps {
		return b.groups.DescribeGroups(ctx, r)
	}
	allowed := *r
	allowed.Groups = nil
	for _, g := range r.Groups {
		if b.groupAllowed(req, auth.OpDescribe, g) {
			allowed.Groups = append(allowed.Groups, g)
		}
	}
	described := map[string]kmsg.DescribeGroupsResponseGroup{}
	if len(allowed.Groups) > 0 {
		for _, g := range b.groups.DescribeGroups(ctx, &allowed).Groups {
			described[g.Group] = g
		}
	}
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range r.Groups {
		g, ok := described[name]
		if !ok {
			g = kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
		} else if withOps {
			g.AuthorizedOperations = b.authorizedOperations(req, auth.ResourceGroup, name)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

func (b *Broker) listGroups(ctx context.Context, req *Request) kmsg.Response {
	resp := b.groups.ListGroups(ctx, req.Body.(*kmsg.ListGroupsRequest))
	if b.allowedCluster(req, auth.OpDescribe) {
		return resp
	}
	resp.Groups, _ = split(resp.Groups, func(g kmsg.ListGroupsResponseGroup) string { return g.Group }, func(g string) bool {
		return b.groupAllowed(req, auth.OpDescribe, g)
	})
	return resp
}

func (b *Broker) deleteGroups(ctx context.Context, req *Request) kmsg.Response {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	if !b.authorizationOn() {
		return b.groups.DeleteGroups(ctx, r)
	}
	allowed := *r
	allowed.Groups = nil
	var denied []string
	for _, g := range r.Groups {
		if b.groupAllowed(req, auth.OpDelete, g) {
			allowed.Groups = append(allowed.Groups, g)
		} else {
			denied = append(denied, g)
		}
	}
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	if len(allowed.Groups) > 0 {
		resp = b.groups.DeleteGroups(ctx, &allowed)
	}
	for _, g := range denied {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
