package broker

// ElectLeaders (key 43), versions 0-2.
//
// Behavior:
//   - ElectionType (v1+; v0 is always preferred) 0 makes each partition's
//     preferred replica (its first) the leader if it is alive and in sync;
//     1 (unclean) gives a partition without a live leader one: a live
//     in-sync replica if there is one, else any live replica.
//   - Topics null elects every partition of the cluster and answers only
//     for those that needed an election; otherwise every partition named
//     gets a result, in request order (a partition named twice, once).
//   - Per-partition errors are the controller's: UNKNOWN_TOPIC_OR_PARTITION,
//     ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//     ELIGIBLE_LEADERS_NOT_AVAILABLE; TimeoutMillis > 0 bounds the wait
//     for the metadata log (REQUEST_TIMED_OUT past it).
//   - Under an authorizer, ALTER on the cluster: without it every
//     partition named, and the top level (v1+), is
//     CLUSTER_AUTHORIZATION_FAILED.
//   - Any node answers: the election goes through the metadata log, and
//     the answer comes once it is applied here.
//
// KIPs: KIP-183 (v0), KIP-460 (v1 election type, top-level error), KIP-482
// (v2 flexible).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/controller"
)

func init() { register(43, 0, 2, (*Broker).handleElectLeaders) }

func (b *Broker) handleElectLeaders(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()
	if !b.allowedCluster(req, auth.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range r.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	typ := controller.ElectPreferred
	if req.Version >= 1 {
		typ = controller.ElectionType(r.ElectionType)
	}
	var refs []controller.PartitionRef
	if r.Topics != nil {
		refs = []controller.PartitionRef{}
		seen := map[controller.PartitionRef]bool{}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				ref := controller.PartitionRef{Topic: t.Topic, Partition: p}
				if !seen[ref] {
					seen[ref] = true
					refs = append(refs, ref)
				}
			}
		}
	}
	results := b.ctrl.ElectLeaders(ctx, typ, refs)
	b.waitLocal(ctx)
	if refs == nil {
		refs = controller.SortedRefs(results)
	}
	topics := map[string]int{}
	for _, ref := range refs {
		ti, ok := topics[ref.Topic]
		if !ok {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = ref.Topic
			resp.Topics = append(resp.Topics, rt)
			ti = len(resp.Topics) - 1
			topics[ref.Topic] = ti
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = ref.Partition
		if err := results[ref]; err != nil {
			err = adminError(err)
			rp.ErrorCode, rp.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, rp)
	}
	return resp, nil
}
