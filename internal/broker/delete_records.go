package broker

// DeleteRecords (key 21), versions 0-2.
//
// Behavior:
//   - For each partition, moves the log start offset up to Offset; -1 means
//     the high watermark. An offset below the current log start offset
//     changes nothing. The answer is the new log start offset (the
//     partition's low watermark).
//   - An offset above the high watermark, or below -1, is
//     OFFSET_OUT_OF_RANGE; LowWatermark is -1 on any error.
//   - Only the leader deletes: a partition this node knows but does not lead
//     is NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION.
//   - Under an authorizer, DELETE on the topic (else
//     TOPIC_AUTHORIZATION_FAILED), before the topic's existence.
//   - The answer does not wait for followers: the start offset is moved on
//     the leader's log, and followers learn it from fetch responses.
//
// KIPs: KIP-107 (v0), KIP-482 (v2 flexible).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
)

func init() { register(21, 0, 2, (*Broker).handleDeleteRecords) }

func (b *Broker) handleDeleteRecords(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	allowed := b.topicsAllowed(req, auth.OpDelete)
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			err := error(kerr.TopicAuthorizationFailed)
			if allowed(rt.Topic) {
				sp.LowWatermark, err = b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			}
			if err != nil {
				sp.LowWatermark = -1
				sp.ErrorCode = b.errorCode(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) deleteRecords(topic string, index int32, offset int64) (int64, error) {
	p, err := b.localReplica(topic, index, -1, true)
	if err != nil {
		return -1, err
	}
	return p.DeleteRecordsBefore(offset)
}
