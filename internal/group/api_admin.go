package group

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the authorized-operations bit field DescribeGroups
// reports when asked: READ (3), DELETE (6), DESCRIBE (8).
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups serves DescribeGroups (key 15). A group that does not exist
// is reported in state "Dead" with no error, as Kafka does. Outside Stable
// the protocol is "" and members carry no metadata or assignment.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		rg.State = Dead.String()
		rg.AuthorizedOperations = math.MinInt32
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOperations
		}
		code := c.withGroup(ctx, id, false, func(g *Group, _ time.Time, _ Store) {
			rg.State = g.State().String()
			rg.ProtocolType = g.ProtocolType()
			stable := g.State() == Stable
			if stable {
				rg.Protocol = g.Protocol()
			}
			for _, m := range g.Members() {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.InstanceID = m.ID, m.InstanceID
				rm.ClientID, rm.ClientHost = m.ClientID, m.ClientHost
				if stable {
					rm.ProtocolMetadata = m.metadataFor(g.Protocol())
					rm.MemberAssignment = m.Assignment
				}
				rg.Members = append(rg.Members, rm)
			}
		})
		if code != kerr.GroupIDNotFound.Code {
			rg.ErrorCode = code
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// ListGroups serves ListGroups (key 16): every group coordinated here,
// filtered by state (v4+) and type (v5+; all groups are "classic"), both
// compared case-insensitively. While a partition is loading the answer is
// COORDINATOR_LOAD_IN_PROGRESS with the groups already known.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	if !matches(req.TypesFilter, "classic") {
		return resp
	}
	c.mu.Lock()
	for _, ps := range c.partitions {
		if ps.loading {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		}
	}
	es := make([]*entry, 0, len(c.groups))
	for _, e := range c.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		g := e.g
		if g.State() != Dead && matches(req.StatesFilter, g.State().String()) {
			rg := kmsg.NewListGroupsResponseGroup()
			rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.ID, g.ProtocolType(), g.State().String(), "classic"
			resp.Groups = append(resp.Groups, rg)
		}
		e.mu.Unlock()
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

// DeleteGroups serves DeleteGroups (key 42): each group must exist
// (GROUP_ID_NOT_FOUND) and be Empty (NON_EMPTY_GROUP); its offsets and
// metadata are tombstoned.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		code := c.withGroup(ctx, id, false, func(g *Group, now time.Time, _ Store) {
			rg.ErrorCode = g.Delete(now)
		})
		if code != 0 {
			rg.ErrorCode = code
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
