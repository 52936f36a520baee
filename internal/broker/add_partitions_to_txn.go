package broker

// AddPartitionsToTxn (key 24), versions 0-5.
//
// Behavior:
//   - v0-3 (clients): one transaction's partitions join it, as the
//     transaction coordinator decides (docs/transactions.md); every
//     partition gets the one answer: INVALID_PRODUCER_ID_MAPPING,
//     PRODUCER_FENCED (INVALID_PRODUCER_EPOCH below v2),
//     CONCURRENT_TRANSACTIONS, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS, or none once the change is logged.
//   - v4+ (KIP-890, brokers): a batch of transactions, each either added
//     as above (for Produce v12 and TxnOffsetCommit v5, transaction version
//     2) or, with VerifyOnly, checked without a change: per partition none
//     if it is in the transaction, TRANSACTION_ABORTABLE if not.
//   - As in Kafka, if any partition names a topic or partition that does
//     not exist, nothing is added: those get UNKNOWN_TOPIC_OR_PARTITION and
//     the others OPERATION_NOT_ATTEMPTED.
//   - Under an authorizer, v0-3 need WRITE on the transactional id (else
//     every partition is TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE
//     on each topic but the internal ones (else, as for an unknown topic,
//     TOPIC_AUTHORIZATION_FAILED and nothing added); v4+ come from brokers
//     and need CLUSTER_ACTION on the cluster (else the top-level
//     CLUSTER_AUTHORIZATION_FAILED).
//
// KIPs: KIP-98 (v0), KIP-360 (v2), KIP-482 (v3 flexible), KIP-588 (v2
// PRODUCER_FENCED), KIP-890 (v4 batches and verification, v5).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(24, 0, 5, (*Broker).handleAddPartitionsToTxn) }

func (b *Broker) handleAddPartitionsToTxn(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 && !b.allowedCluster(req, auth.OpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if req.Version < 4 {
		if !b.allowed(req, auth.OpWrite, auth.ResourceTransactionalID, r.TransactionalID) {
			for _, t := range r.Topics {
				rt := kmsg.AddPartitionsToTxnResponseTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p, ErrorCode: kerr.TransactionalIDAuthorizationFailed.Code})
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		writeOK := b.topicsAllowed(req, auth.OpWrite)
		writable := func(topic string) bool { return isInternalTopic(topic) || writeOK(topic) }
		topics := make([]kmsg.AddPartitionsToTxnRequestTransactionTopic, len(r.Topics))
		for i, t := range r.Topics {
			topics[i] = kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: t.Topic, Partitions: t.Partitions}
		}
		res, err := b.addPartitionsToTxn(ctx, req.Key, req.Version, kmsg.AddPartitionsToTxnRequestTransaction{
			TransactionalID: r.TransactionalID, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch, Topics: topics,
		}, writable)
		if err != nil {
			return nil, err
		}
		for _, t := range res.Topics {
			rt := kmsg.AddPartitionsToTxnResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	for _, t := range r.Transactions {
		res, err := b.addPartitionsToTxn(ctx, req.Key, req.Version, t, func(string) bool { return true })
		if err != nil {
			return nil, err
		}
		resp.Transactions = append(resp.Transactions, res)
	}
	return resp, nil
}

// addPartitionsToTxn answers one transaction of the request; writable says
// whether the sender may add a topic's partitions.
func (b *Broker) addPartitionsToTxn(ctx context.Context, key, version int16, t kmsg.AddPartitionsToTxnRequestTransaction, writable func(topic string) bool) (kmsg.AddPartitionsToTxnResponseTransaction, error) {
	var parts []txn.TopicPartition
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			parts = append(parts, txn.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	errs := make(map[txn.TopicPartition]error, len(parts))
	img := b.store.Current()
	refused := false
	for _, tp := range parts {
		if !writable(tp.Topic) {
			errs[tp], refused = kerr.TopicAuthorizationFailed, true
		} else if mt, ok := img.Topic(tp.Topic); !ok || tp.Partition < 0 || int(tp.Partition) >= len(mt.Partitions) {
			errs[tp], refused = kerr.UnknownTopicOrPartition, true
		}
	}
	var all error
	switch {
	case refused:
		for _, tp := range parts {
			if errs[tp] == nil {
				errs[tp] = kerr.OperationNotAttempted
			}
		}
	case t.VerifyOnly:
		b.txns.read(func(c *txn.Coordinator, _ int64) {
			var res map[txn.TopicPartition]error
			res, all = c.VerifyPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts)
			for tp, err := range res {
				errs[tp] = err
			}
		})
	default:
		rep, err := b.txns.request(ctx, false, func(c *txn.Coordinator, token uint64, now int64) {
			c.AddPartitions(token, t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, now)
		})
		if err != nil {
			return kmsg.AddPartitionsToTxnResponseTransaction{}, err
		}
		all = rep.Err
	}
	all = txn.ForVersion(all, key, version)
	out := kmsg.AddPartitionsToTxnResponseTransaction{TransactionalID: t.TransactionalID}
	for _, rt := range t.Topics {
		ot := kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: rt.Topic}
		for _, p := range rt.Partitions {
			err := all
			if err == nil {
				err = errs[txn.TopicPartition{Topic: rt.Topic, Partition: p}]
			}
			ot.Partitions = append(ot.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p, ErrorCode: b.errorCode(err)})
		}
		out.Topics = append(out.Topics, ot)
	}
	return out, nil
}
