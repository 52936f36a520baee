package broker

// AlterPartitionReassignments (key 45), versions 0-1.
//
// Behavior:
//   - Each partition's Replicas is its target: the replicas not yet among
//     its replicas are added and catch up from the leader, and once every
//     target replica is in the ISR the controller makes the target its
//     replicas, moving the leadership to the first target replica if the
//     leader is being removed; the removed replicas then delete their logs.
//     A target that only drops or reorders in-sync replicas takes effect at
//     once. A new target replaces a reassignment in progress; null
//     Replicas cancels it (NO_REASSIGNMENT_IN_PROGRESS if none runs).
//   - Per-partition errors are the controller's: UNKNOWN_TOPIC_OR_PARTITION,
//     INVALID_REPLICA_ASSIGNMENT (empty, a broker twice or unregistered),
//     INVALID_REPLICATION_FACTOR (a new factor with v1's
//     AllowReplicationFactorChange false), INVALID_REQUEST (a partition
//     named twice), REQUEST_TIMED_OUT past TimeoutMillis.
//   - Under an authorizer, ALTER on the cluster (else the top-level
//     CLUSTER_AUTHORIZATION_FAILED and no partition).
//   - The answer comes once the change is in the metadata log, not once the
//     move is done: ListPartitionReassignments shows it until then.
//
// KIPs: KIP-455 (v0), KIP-482 (flexible from v0), KIP-860 (v1
// AllowReplicationFactorChange).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/controller"
)

func init() { register(45, 0, 1, (*Broker).handleAlterPartitionReassignments) }

func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = r.AllowReplicationFactorChange || req.Version < 1
	if !b.allowedCluster(req, auth.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	var reqs []controller.Reassignment
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			reqs = append(reqs, controller.Reassignment{
				PartitionRef: controller.PartitionRef{Topic: t.Topic, Partition: p.Partition},
				Target:       p.Replicas,
				KeepFactor:   !resp.AllowReplicationFactorChange,
			})
		}
	}
	results := b.ctrl.AlterPartitionReassignments(ctx, reqs)
	b.waitLocal(ctx)
	for _, t := range r.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			if err := results[controller.PartitionRef{Topic: t.Topic, Partition: p.Partition}]; err != nil {
				err = adminError(err)
				rp.ErrorCode, rp.ErrorMessage = b.errorCode(err), errorMessage(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
