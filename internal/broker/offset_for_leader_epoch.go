package broker

// OffsetForLeaderEpoch (key 23), versions 0-4.
//
// Behavior:
//   - For each partition: CurrentLeaderEpoch (v2+) fences the request as in
//     Fetch (-1 skips the check; newer than ours is UNKNOWN_LEADER_EPOCH,
//     older FENCED_LEADER_EPOCH). Then, as Kafka's leader answers: the
//     current leader epoch ends at the log end offset; an epoch above it is
//     unknown; an older one is answered from the partition's epoch cache
//     (the largest epoch at most LeaderEpoch and the offset where the next
//     one starts). Unknown is UNDEFINED_EPOCH (-1) with
//     UNDEFINED_EPOCH_OFFSET (-1).
//   - Consumers (ReplicaID -1, and every request before v3) and followers
//     must ask the leader: NOT_LEADER_OR_FOLLOWER otherwise. The debugging
//     replica id -2 may ask any replica.
//   - A topic this node does not know is UNKNOWN_TOPIC_OR_PARTITION; a
//     partition it knows but does not host is NOT_LEADER_OR_FOLLOWER.
//
// KIPs: KIP-101 (v0), KIP-279 (v1 LeaderEpoch in the answer), KIP-320 (v2
// CurrentLeaderEpoch), KIP-392 (v3 ReplicaID), KIP-482 (v4 flexible).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/partition"
)

func init() { register(23, 0, 4, (*Broker).handleOffsetForLeaderEpoch) }

// debuggingReplicaID is the replica id of tools that may read from any
// replica, not only the leader.
const debuggingReplicaID = -2

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	requireLeader := req.Version < 3 || r.ReplicaID != debuggingReplicaID
	allowedTopic := b.topicsAllowed(req, auth.OpDescribe)
	if req.Version >= 3 && r.ReplicaID >= 0 {
		ok := b.allowedCluster(req, auth.OpClusterAction)
		allowedTopic = func(string) bool { return ok }
	}
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			current := rp.CurrentLeaderEpoch
			if req.Version < 2 {
				current = -1
			}
			if !allowedTopic(rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, err := b.localReplica(rt.Topic, rp.Partition, current, requireLeader)
			if err != nil {
				sp.ErrorCode = b.errorCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = endOffsetForEpoch(rp.LeaderEpoch, p.LeaderEpoch(), p.LogEndOffset(), p.EndOffsetForEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// endOffsetForEpoch answers one partition for the requested epoch, given
// the current leader epoch, the log end offset and the partition's epoch
// cache lookup.
func endOffsetForEpoch(requested, current int32, logEnd int64, cached func(int32) (int32, int64)) (int32, int64) {
	switch {
	case requested == current:
		return current, logEnd
	case requested > current:
		return -1, -1
	}
	return cached(requested)
}

// localReplica returns this node's replica of topic/index after checking
// currentEpoch against it (checkLeaderEpoch; -1 skips) and, when
// requireLeader, that this node leads the partition. A partition missing
// from the metadata image is UNKNOWN_TOPIC_OR_PARTITION; one this node does
// not host or (with requireLeader) does not lead is NOT_LEADER_OR_FOLLOWER.
func (b *Broker) localReplica(topic string, index int32, currentEpoch int32, requireLeader bool) (*partition.Partition, error) {
	t, ok := b.store.Current().Topic(topic)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	p, err := b.parts.Get(topic, index)
	if err != nil {
		return nil, kerr.NotLeaderForPartition
	}
	if err := partition.CheckLeaderEpoch(currentEpoch, p.LeaderEpoch()); err != nil {
		return nil, err
	}
	if requireLeader && !p.IsLeader() {
		return nil, kerr.NotLeaderForPartition
	}
	return p, nil
}
