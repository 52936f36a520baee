package broker

// ListOffsets (key 2), versions 1-10.
//
// Behavior:
//   - Timestamp -2 (earliest) is the log start offset, -1 (latest) the high
//     watermark, or with isolation level read_committed (v2+, KIP-98) the
//     last stable offset, -3 (max timestamp, v7+, KIP-734) the record with
//     the largest timestamp, -4 (earliest local, v8+, KIP-405) the log start
//     offset, -5 (latest tiered, v9+) -1 as nothing is tiered.
//   - Any other timestamp finds the first record whose timestamp is at least
//     it, below the high watermark (read_committed: the last stable offset);
//     none is offset -1, timestamp -1.
//   - A leader whose high watermark has not yet reached the log end it had
//     when it took its epoch answers latest, and a timestamp it finds no
//     record below the high watermark for, with OFFSET_NOT_AVAILABLE
//     (retriable), as Kafka does: that high watermark may still be below
//     what the previous leader acknowledged.
//   - CurrentLeaderEpoch is checked as in Fetch (KIP-320); the answer carries
//     the leader epoch (v4+).
//   - A partition asked for twice is INVALID_REQUEST for both.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/partition"
)

func init() { register(2, 1, 10, (*Broker).handleListOffsets) }

// Special ListOffsets timestamps.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
	listLatestTiered  = -5
)

func (b *Broker) handleListOffsets(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	describable := b.topicsAllowed(req, auth.OpDescribe)
	seen := map[topicPartition]int{}
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			seen[topicPartition{Topic: rt.Topic, Index: rp.Partition}]++
		}
	}
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			var err error
			switch {
			case !describable(rt.Topic):
				err = kerr.TopicAuthorizationFailed
			case seen[topicPartition{Topic: rt.Topic, Index: rp.Partition}] > 1:
				err = kerr.InvalidRequest
			default:
				err = b.listOffset(rt.Topic, rp, r.IsolationLevel == 1, &sp)
			}
			sp.ErrorCode = b.errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// offsetNotAvailable answers a new leader's latest offset, or a timestamp
// beyond its high watermark, until that high watermark has caught up.
var offsetNotAvailable = fmt.Errorf("%w: the new leader's high watermark has not caught up yet", kerr.OffsetNotAvailable)

func (b *Broker) listOffset(topic string, rp kmsg.ListOffsetsRequestTopicPartition, committed bool, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	p, err := b.fetchReplica(topicPartition{Topic: topic, Index: rp.Partition})
	if err != nil {
		return err
	}
	if !p.IsLeader() {
		return kerr.NotLeaderForPartition
	}
	epoch := p.LeaderEpoch()
	if err := partition.CheckLeaderEpoch(rp.CurrentLeaderEpoch, epoch); err != nil {
		return err
	}
	sp.LeaderEpoch = epoch
	fetchable := p.HighWatermark()
	if committed {
		fetchable = p.LastStableOffset()
	}
	settled := p.HighWatermarkSettled()
	switch rp.Timestamp {
	case listLatest:
		if !settled {
			return offsetNotAvailable
		}
		sp.Offset = fetchable
	case listEarliest, listEarliestLocal:
		sp.Offset = p.LogStartOffset()
	case listLatestTiered:
		sp.Offset = -1
	case listMaxTimestamp:
		sp.Timestamp, sp.Offset = p.MaxTimestamp()
	default:
		if rp.Timestamp < 0 {
			return kerr.InvalidRequest
		}
		off, ts, ok := p.OffsetForTimestamp(rp.Timestamp)
		switch {
		case ok && off < fetchable:
			sp.Offset, sp.Timestamp = off, ts
		case !settled:
			return offsetNotAvailable
		}
	}
	return nil
}
