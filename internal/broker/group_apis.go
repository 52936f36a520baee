package broker

// The group APIs, served by the group coordinator (internal/group, where
// each API's behaviour is written down):
//
//	JoinGroup (11) 0-9, SyncGroup (14) 0-5, Heartbeat (12) 0-4,
//	LeaveGroup (13) 0-5, OffsetCommit (8) 0-9, OffsetFetch (9) 0-9,
//	OffsetDelete (47) 0, DescribeGroups (15) 0-5, ListGroups (16) 0-5,
//	DeleteGroups (42) 0-2.
//
// OffsetCommit and OffsetFetch v10 (topic ids) are not served yet.
// KIPs: KIP-345 (static membership), KIP-394 (member id required),
// KIP-429 (cooperative rebalancing), KIP-447, KIP-709 (batched OffsetFetch).

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/group"
)

func init() {
	register(11, 0, 9, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.JoinGroup(ctx, clientOf(req), req.Body.(*kmsg.JoinGroupRequest)), nil
	})
	register(14, 0, 5, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.SyncGroup(ctx, req.Body.(*kmsg.SyncGroupRequest)), nil
	})
	register(12, 0, 4, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.Heartbeat(ctx, req.Body.(*kmsg.HeartbeatRequest)), nil
	})
	register(13, 0, 5, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.LeaveGroup(ctx, req.Body.(*kmsg.LeaveGroupRequest)), nil
	})
	register(8, 0, 9, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.OffsetCommit(ctx, req.Body.(*kmsg.OffsetCommitRequest)), nil
	})
	register(9, 0, 9, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.OffsetFetch(ctx, req.Body.(*kmsg.OffsetFetchRequest)), nil
	})
	register(47, 0, 0, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.OffsetDelete(ctx, req.Body.(*kmsg.OffsetDeleteRequest)), nil
	})
	register(15, 0, 5, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.DescribeGroups(ctx, req.Body.(*kmsg.DescribeGroupsRequest)), nil
	})
	register(16, 0, 5, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.ListGroups(ctx, req.Body.(*kmsg.ListGroupsRequest)), nil
	})
	register(42, 0, 2, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.DeleteGroups(ctx, req.Body.(*kmsg.DeleteGroupsRequest)), nil
	})
}

// clientOf names the client of a request for DescribeGroups: its client id
// and host, as Kafka shows them.
func clientOf(req *Request) group.Client {
	c := group.Client{ID: ptrString(req.ClientID)}
	if req.Conn != nil && req.Conn.Remote != nil {
		host, _, err := net.SplitHostPort(req.Conn.Remote.String())
		if err != nil {
			host = req.Conn.Remote.String()
		}
		c.Host = "/" + host
	}
	return c
}
