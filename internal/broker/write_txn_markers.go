package broker

// WriteTxnMarkers (key 27), versions 0-1.
//
// Behavior:
//   - A broker-to-broker API: the transaction coordinator sends it to the
//     leaders of a transaction's partitions to end it there. For each
//     marker (producer id, producer epoch, commit or abort, coordinator
//     epoch) and each named partition this node leads, the leader appends a
//     control batch: attributes control and transactional, the producer's
//     id and epoch, base sequence -1, one record with key {version 0, type
//     (0 abort, 1 commit)} and value {version 0, coordinator epoch} (Kafka's
//     EndTransactionMarker). The marker ends the producer's transaction on
//     the partition; an abort goes into the aborted-transaction index, so
//     read_committed fetches skip the transaction's records. Markers are
//     replicated like any batch, and followers rebuild the same state.
//   - As in Kafka (KafkaApis.handleWriteTxnMarkersRequest), each partition is
//     answered once its marker is on every in-sync replica (acks=all, with
//     min.insync.replicas: NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND),
//     or REQUEST_TIMED_OUT after 30 s; the coordinator retries.
//   - Per-partition errors: UNKNOWN_TOPIC_OR_PARTITION for a partition the
//     metadata does not have; NOT_LEADER_OR_FOLLOWER where this node does
//     not lead; INVALID_PRODUCER_EPOCH for an epoch below the producer's on
//     the partition; TRANSACTION_COORDINATOR_FENCED for a coordinator epoch
//     below the one of the producer's last marker there. A marker for a
//     producer without an open transaction on the partition is appended
//     (an empty transaction), as Kafka does, since coordinators resend.
//   - Markers may go to internal topics: __consumer_offsets takes them for
//     transactional offset commits (TxnOffsetCommit). Once a marker there
//     is on every in-sync replica, the group coordinator is told
//     (group.Coordinator.CompleteTxn): a COMMIT makes the producer's
//     pending offsets the groups' committed ones, an ABORT drops them, as
//     Kafka's GroupCoordinator.onTransactionCompleted.
//   - There is no authorizer yet; Kafka requires CLUSTER_ACTION.
//
// KIPs: KIP-98 (v0), KIP-482 (v1 flexible).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/partition"
)

func init() { register(27, 0, 1, (*Broker).handleWriteTxnMarkers) }

// markerTimeout bounds the wait for a marker's replication: Kafka's
// request.timeout.ms default, which its handler uses.
const markerTimeout = 30 * time.Second

// markerWait is an appended marker waiting for its ISR.
type markerWait struct {
	p      *partition.Partition
	res    partition.AppendResult
	minISR int
	code   *int16
}

func (b *Broker) handleWriteTxnMarkers(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	now := time.Now().UnixMilli()
	clusterAction := b.allowedCluster(req, auth.OpClusterAction)
	var waits []markerWait
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(r.Markers))
	for i, m := range r.Markers {
		rm := &resp.Markers[i]
		*rm = kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j, mt := range m.Topics {
			rt := &rm.Topics[j]
			*rt = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = mt.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(mt.Partitions))
			for k, index := range mt.Partitions {
				rp := &rt.Partitions[k]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = index
				if !clusterAction {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				w, err := b.writeMarker(mt.Topic, index, m, now)
				if err != nil {
					rp.ErrorCode = b.errorCode(err)
					continue
				}
				w.code = &rp.ErrorCode
				waits = append(waits, w)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, markerTimeout)
	defer cancel()
	for _, w := range waits {
		err := error(nil)
		if w.res.Unsynced {
			err = w.p.Sync(w.res.LastOffset + 1)
		}
		if err == nil {
			err = w.p.WaitCommitted(ctx, w.res.LastOffset+1, w.res.LeaderEpoch, w.minISR)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: the in-sync replicas did not all have the marker within %v", kerr.RequestTimedOut, markerTimeout)
		}
		*w.code = b.errorCode(err)
	}
	for i, m := range r.Markers {
		for j, mt := range m.Topics {
			if mt.Topic != offsetsTopic {
				continue
			}
			for k, index := range mt.Partitions {
				if resp.Markers[i].Topics[j].Partitions[k].ErrorCode == 0 {
					b.groups.CompleteTxn(index, m.ProducerID, m.Committed)
				}
			}
		}
	}
	return resp, nil
}

// writeMarker appends marker m to partition index of topic as its leader,
// after the checks an acks=all produce makes.
func (b *Broker) writeMarker(topic string, index int32, m kmsg.WriteTxnMarkersRequestMarker, nowMs int64) (markerWait, error) {
	t, ok := b.store.Current().Topic(topic)
	if !ok {
		return markerWait{}, kerr.UnknownTopicOrPartition
	}
	cfg, err := b.parts.TopicConfig(t)
	if err != nil {
		return markerWait{}, err
	}
	p, err := b.leaderReplica(t, index)
	if err != nil {
		return markerWait{}, err
	}
	if err := p.CheckMinISR(int(cfg.MinInsyncReplicas)); err != nil {
		return markerWait{}, err
	}
	res, err := p.WriteTxnMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, nowMs)
	if err != nil {
		return markerWait{}, err
	}
	return markerWait{p: p, res: res, minISR: int(cfg.MinInsyncReplicas)}, nil
}
