package broker

// DescribeProducers (key 61), version 0.
//
// Behavior:
//   - For each partition this node leads, the producers its state
//     remembers (idempotent and transactional), by increasing id: epoch,
//     last sequence (-1 when the epoch has no data batch yet), last
//     timestamp, coordinator epoch of the last marker (-1 before one) and
//     the first offset of the ongoing transaction (-1 for none), as Kafka's
//     ReplicaManager.activeProducerState answers.
//   - Under an authorizer, READ on the topic (else every partition of it
//     is TOPIC_AUTHORIZATION_FAILED), before the topic's existence.
//   - A partition the metadata does not have is UNKNOWN_TOPIC_OR_PARTITION;
//     one this node does not lead is NOT_LEADER_OR_FOLLOWER.
//
// KIPs: KIP-664.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func init() { register(61, 0, 0, (*Broker).handleDescribeProducers) }

func (b *Broker) handleDescribeProducers(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeProducersRequest)
	resp := r.ResponseKind().(*kmsg.DescribeProducersResponse)
	img := b.store.Current()
	for _, rt := range r.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t, known := img.Topic(rt.Topic)
		topicErr := error(kerr.UnknownTopicOrPartition)
		if !b.allowed(req, auth.OpRead, auth.ResourceTopic, rt.Topic) {
			known, topicErr = false, kerr.TopicAuthorizationFailed
		}
		for _, index := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = index
			err := topicErr
			if known {
				err = b.describeProducers(t, index, &sp)
			}
			sp.ErrorCode, sp.ErrorMessage = b.errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// describeProducers fills in sp with the producers of partition index of t.
func (b *Broker) describeProducers(t *metadata.Topic, index int32, sp *kmsg.DescribeProducersResponseTopicPartition) error {
	p, err := b.leaderReplica(t, index)
	if err != nil {
		return err
	}
	ps, err := p.ActiveProducers()
	if err != nil {
		return err
	}
	for _, pi := range ps {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.Epoch), pi.LastSequence
		ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.LastTimestamp, pi.CoordinatorEpoch, pi.TxnStartOffset
		sp.ActiveProducers = append(sp.ActiveProducers, ap)
	}
	return nil
}
