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
//
// Under an authorizer each is checked first (group_authorize.go).

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/group"
)

func init() {
	for key, api := range map[int16]struct {
		max int16
		fn  func(*Broker, context.Context, *Request) kmsg.Response
	}{
		11: {9, (*Broker).joinGroup}, 14: {5, (*Broker).syncGroup}, 12: {4, (*Broker).heartbeat},
		13: {5, (*Broker).leaveGroup}, 8: {9, (*Broker).offsetCommit}, 9: {9, (*Broker).offsetFetch},
		47: {0, (*Broker).offsetDelete}, 15: {5, (*Broker).describeGroups}, 16: {5, (*Broker).listGroups},
		42: {2, (*Broker).deleteGroups},
	} {
		register(key, 0, api.max, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
			return api.fn(b, ctx, req), nil
		})
	}
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
