package broker

// AddRaftVoter (key 80), version 0-1, and RemoveRaftVoter (key 81),
// version 0: changing the metadata quorum's voters while it runs (KIP-853).
//
// Behavior:
//   - AddRaftVoter makes a node that receives the metadata log as a learner
//     (a broker-only node, which joins as one by itself) a voter, once raft
//     has applied the change: DUPLICATE_VOTER if it votes already,
//     INVALID_REQUEST if it is not a learner (start it first with the
//     voters list). Its listeners are not needed: the voters reach it on
//     the connections it dials.
//   - RemoveRaftVoter makes a voter a learner again: it goes on receiving
//     the metadata log as a broker (KIP-853's observer); VOTER_NOT_FOUND if
//     it is no voter, INVALID_REQUEST for the last voter. The quorum's
//     leader hands its leadership to another voter first when it is the
//     one removed.
//   - Under an authorizer, ALTER on the cluster (else
//     CLUSTER_AUTHORIZATION_FAILED), as Kafka's ControllerApis checks.
//   - A ClusterId that is not this cluster's is INCONSISTENT_CLUSTER_ID.
//     Raft takes one membership change at a time: a change that does not
//     apply within TimeoutMillis (30 s by default) is REQUEST_TIMED_OUT.
//   - A node restarted after a change keeps its command line: the voters of
//     its metadata log win over its --controller-voters list (a difference
//     is logged), and one that missed the change learns it from the quorum.
//
// KIPs: KIP-853 (v0), KIP-1186 (AddRaftVoter v1 AckWhenCommitted, answered
// once applied either way).

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
)

func init() {
	register(80, 0, 1, (*Broker).handleAddRaftVoter)
	register(81, 0, 0, (*Broker).handleRemoveRaftVoter)
}

// voterChangeTimeout bounds a voter change without a request timeout.
const voterChangeTimeout = 30 * time.Second

func (b *Broker) handleAddRaftVoter(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddRaftVoterRequest)
	resp := r.ResponseKind().(*kmsg.AddRaftVoterResponse)
	err := error(kerr.ClusterAuthorizationFailed)
	if b.allowedCluster(req, auth.OpAlter) {
		err = b.changeVoter(ctx, r.ClusterID, r.VoterID, r.TimeoutMillis, true)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
	}
	return resp, nil
}

func (b *Broker) handleRemoveRaftVoter(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.RemoveRaftVoterRequest)
	resp := r.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	err := error(kerr.ClusterAuthorizationFailed)
	if b.allowedCluster(req, auth.OpAlter) {
		err = b.changeVoter(ctx, r.ClusterID, r.VoterID, 0, false)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
	}
	return resp, nil
}

// changeVoter promotes learner id to a voter (add) or demotes voter id to a
// learner, and waits until the change is applied here.
func (b *Broker) changeVoter(ctx context.Context, clusterID *string, id int32, timeoutMillis int32, add bool) error {
	if clusterID != nil && *clusterID != b.store.Current().ClusterID {
		return apiErrorf(kerr.InconsistentClusterID, "cluster id %s is not this cluster's %s", *clusterID, b.store.Current().ClusterID)
	}
	timeout := voterChangeTimeout
	if timeoutMillis > 0 {
		timeout = time.Duration(timeoutMillis) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Decide on the membership the quorum has, not on a lagging view.
	if err := b.node.ReadBarrier(ctx); err != nil {
		return fmt.Errorf("%w: the metadata quorum did not answer: %w", kerr.RequestTimedOut, err)
	}
	voters, learners := b.node.Members()
	node := uint64(id)
	isVoter := func(v, _ []uint64) bool { return slices.Contains(v, node) }
	var err error
	if add {
		switch {
		case slices.Contains(voters, node):
			return apiErrorf(kerr.DuplicateVoter, "node %d is a voter already", id)
		case !slices.Contains(learners, node):
			return apiErrorf(kerr.InvalidRequest, "node %d does not receive the metadata log as a learner: start it with the voters list first", id)
		}
		b.logger.Info("adding a voter to the metadata quorum", "node", id, "voters", voters)
		if err = b.node.PromoteLearner(ctx, node); err == nil {
			err = b.node.WaitMembers(ctx, isVoter)
		}
	} else {
		switch {
		case !slices.Contains(voters, node):
			return apiErrorf(kerr.VoterNotFound, "node %d is not a voter", id)
		case len(voters) == 1:
			return apiErrorf(kerr.InvalidRequest, "node %d is the only voter", id)
		}
		if leader, _ := b.node.Leader(); leader == node {
			to := voters[0]
			if to == node {
				to = voters[1]
			}
			b.transferLeadership(ctx, node, to)
		}
		b.logger.Info("removing a voter from the metadata quorum", "node", id, "voters", voters)
		if err = b.node.DemoteVoter(ctx, node); err == nil {
			err = b.node.WaitMembers(ctx, func(v, l []uint64) bool { return !isVoter(v, l) })
		}
	}
	if err != nil {
		return fmt.Errorf("%w: the voter change was not applied in %v (raft takes one membership change at a time): %w", kerr.RequestTimedOut, timeout, err)
	}
	return nil
}
