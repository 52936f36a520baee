package broker

// TxnOffsetCommit (key 28), versions 0-5.
//
// Behavior:
//   - Sent by a transactional producer to the group coordinator after
//     AddOffsetsToTxn added the group's __consumer_offsets partition to its
//     transaction (from v5, transaction version 2, the commit adds it
//     itself). The offsets are appended to that partition as one
//     transactional batch of the request's producer id and epoch
//     (acks=all), and stay pending: OffsetFetch does not show them (with
//     RequireStable it answers UNSTABLE_OFFSET_COMMIT for their partitions)
//     until the transaction's COMMIT marker reaches the partition
//     (WriteTxnMarkers); an ABORT marker discards them. A reload of the
//     partition applies the same rule to what it replays.
//   - KIP-890: with transaction.partition.verification.enable (default
//     true), a commit that would start the producer's transaction on the
//     offsets partition is first verified with the transactional id's
//     coordinator (AddPartitionsToTxn VerifyOnly, batched as Produce's);
//     from v5 the partition is added instead, whatever the setting. A
//     partition not in the transaction is TRANSACTION_ABORTABLE from v4,
//     INVALID_TXN_STATE below; a fenced producer INVALID_PRODUCER_EPOCH;
//     CONCURRENT_TRANSACTIONS as the coordinator answers it; a coordinator
//     that cannot answer COORDINATOR_NOT_AVAILABLE. Every partition of the
//     request gets the one answer and nothing is appended.
//   - Errors, as Kafka's group coordinator: NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS; COORDINATOR_NOT_AVAILABLE for a dead
//     group or a failed append; v3+ carries the member: FENCED_INSTANCE_ID,
//     UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION (an empty member id and
//     generation -1 are not checked, and a rebalance does not refuse the
//     commit); per partition UNKNOWN_TOPIC_OR_PARTITION and
//     OFFSET_METADATA_TOO_LARGE; INVALID_PRODUCER_EPOCH when the producer's
//     epoch on the partition is newer (a fenced producer).
//   - A group that does not exist is created, as Kafka does.
//   - Under an authorizer, first WRITE on the transactional id (else every
//     partition is TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the
//     group (GROUP_AUTHORIZATION_FAILED), then READ on each topic: a denied
//     topic's partitions are TOPIC_AUTHORIZATION_FAILED and the others are
//     committed.
//
// KIPs: KIP-98 (v0), KIP-360 (v2), KIP-447 (v3 member and generation),
// KIP-482 (v3 flexible), KIP-890 (v4 TRANSACTION_ABORTABLE, v5 implicit
// add).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(28, 0, 5, (*Broker).handleTxnOffsetCommit) }

func (b *Broker) handleTxnOffsetCommit(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	switch {
	case !b.allowed(req, auth.OpWrite, auth.ResourceTransactionalID, r.TransactionalID):
		return txnCommitFailed(r.Topics, kerr.TransactionalIDAuthorizationFailed.Code), nil
	case !b.allowed(req, auth.OpRead, auth.ResourceGroup, r.Group):
		return txnCommitFailed(r.Topics, kerr.GroupAuthorizationFailed.Code), nil
	}
	kept, denied := split(r.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) string { return t.Topic }, b.topicsAllowed(req, auth.OpRead))
	resp := txnCommitFailed(denied, kerr.TopicAuthorizationFailed.Code)
	if len(kept) == 0 {
		return resp, nil
	}
	allowed := *r
	allowed.Topics = kept
	guard, err := b.verifyTxnOffsets(&allowed, req.Version)
	if err == nil {
		committed := b.groups.TxnOffsetCommit(ctx, &allowed, guard)
		committed.Topics = append(committed.Topics, resp.Topics...)
		return committed, nil
	}
	resp.Topics = append(txnCommitFailed(kept, b.errorCode(err)).Topics, resp.Topics...)
	return resp, nil
}

// txnCommitFailed answers every partition of topics with code.
func txnCommitFailed(topics []kmsg.TxnOffsetCommitRequestTopic, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	for _, t := range topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// verifyTxnOffsets verifies (v5: adds) the group's offsets partition with
// the transaction coordinator when the commit would start the producer's
// transaction there, and returns the guard the append must carry. A
// partition not led here is left to the group coordinator to answer.
func (b *Broker) verifyTxnOffsets(r *kmsg.TxnOffsetCommitRequest, version int16) (txn.Guard, error) {
	add := version >= 5
	if !add && !b.settings().TransactionPartitionVerification() {
		return txn.Unverified, nil
	}
	tp := txn.TopicPartition{Topic: offsetsTopic, Partition: b.groups.PartitionFor(r.Group)}
	p, err := b.parts.Get(tp.Topic, tp.Partition)
	if err != nil {
		return txn.Unverified, nil
	}
	g, need, err := p.StartVerification(r.ProducerID, r.ProducerEpoch, time.Now().UnixMilli())
	if err != nil || !need {
		return g, nil
	}
	node := b.txnCoordinator(r.TransactionalID)
	if node < 0 {
		return g, kerr.CoordinatorNotAvailable
	}
	err = b.verifier.verify(node, r.TransactionalID, r.ProducerID, r.ProducerEpoch, add, []txn.TopicPartition{tp})[tp]
	switch {
	case err == nil:
		return g, nil
	case errors.Is(err, kerr.TransactionAbortable) && version < 4:
		return g, kerr.InvalidTxnState
	case errors.Is(err, kerr.NetworkException), errors.Is(err, kerr.NotCoordinator),
		errors.Is(err, kerr.CoordinatorLoadInProgress):
		return g, kerr.CoordinatorNotAvailable
	}
	return g, err
}
