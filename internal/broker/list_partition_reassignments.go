package broker

// ListPartitionReassignments (key 46), version 0.
//
// Behavior:
//   - Lists the partitions under reassignment, of the topics and
//     partitions named or (null topics) of the whole cluster, with their
//     replicas (the target first, then those being removed), the replicas
//     being added and those being removed. Partitions not under
//     reassignment and unknown topics or partitions are left out, as
//     Kafka's controller leaves them out.
//   - Any node answers from its metadata image.
//   - Under an authorizer, DESCRIBE on the cluster (else the top-level
//     CLUSTER_AUTHORIZATION_FAILED and no partition).
//
// KIPs: KIP-455 (v0), KIP-482 (flexible from v0).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func init() { register(46, 0, 0, (*Broker).handleListPartitionReassignments) }

func (b *Broker) handleListPartitionReassignments(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !b.allowedCluster(req, auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	img := b.store.Current()
	add := func(t *metadata.Topic, parts []int32) {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = t.Name
		for _, i := range parts {
			if i < 0 || int(i) >= len(t.Partitions) || !t.Partitions[i].Reassigning() {
				continue
			}
			p := t.Partitions[i]
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = i
			rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = nonNil(p.Replicas), nonNil(p.Adding), nonNil(p.Removing)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if r.Topics == nil {
		for _, t := range img.Topics() {
			parts := make([]int32, len(t.Partitions))
			for i := range parts {
				parts[i] = int32(i)
			}
			add(t, parts)
		}
		return resp, nil
	}
	for _, rt := range r.Topics {
		if t, ok := img.Topic(rt.Topic); ok {
			add(t, slices.Compact(slices.Sorted(slices.Values(rt.Partitions))))
		}
	}
	return resp, nil
}

// nonNil returns vs, or an empty slice for nil: the lists are not
// nullable on the wire.
func nonNil(vs []int32) []int32 {
	if vs == nil {
		return []int32{}
	}
	return slices.Clone(vs)
}
