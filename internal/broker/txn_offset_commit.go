package broker

// TxnOffsetCommit (key 28), versions 0-4.
//
// Behavior:
//   - Sent by a transactional producer to the group coordinator after
//     AddOffsetsToTxn added the group's __consumer_offsets partition to its
//     transaction. The offsets are appended to that partition as one
//     transactional batch of the request's producer id and epoch
//     (acks=all), and stay pending: OffsetFetch does not show them (with
//     RequireStable it answers UNSTABLE_OFFSET_COMMIT for their partitions)
//     until the transaction's COMMIT marker reaches the partition
//     (WriteTxnMarkers); an ABORT marker discards them. A reload of the
//     partition applies the same rule to what it replays.
//   - Errors, as Kafka's group coordinator: NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS; COORDINATOR_NOT_AVAILABLE for a dead
//     group or a failed append; v3+ carries the member: FENCED_INSTANCE_ID,
//     UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION (an empty member id and
//     generation -1 are not checked, and a rebalance does not refuse the
//     commit); per partition UNKNOWN_TOPIC_OR_PARTITION and
//     OFFSET_METADATA_TOO_LARGE; INVALID_PRODUCER_EPOCH when the producer's
//     epoch on the partition is newer (a fenced producer).
//   - The coordinator does not yet verify with the transaction coordinator
//     that the partition is in the transaction (KIP-890 part 1 for v4);
//     TRANSACTION_ABORTABLE is never answered.
//   - A group that does not exist is created, as Kafka does.
//
// KIPs: KIP-98 (v0), KIP-360 (v2), KIP-447 (v3 member and generation),
// KIP-482 (v3 flexible), KIP-890 (v4).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(28, 0, 4, func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error) {
		return b.groups.TxnOffsetCommit(ctx, req.Body.(*kmsg.TxnOffsetCommitRequest)), nil
	})
}
