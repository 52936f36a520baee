package broker

// InitProducerId (key 22), versions 0-5.
//
// Behavior:
//   - Without a transactional id the producer gets a fresh producer id with
//     epoch 0 from the cluster-wide id blocks (internal/txn). The ProducerID
//     and ProducerEpoch a v3+ client sends (KIP-360) do not change that: an
//     idempotent client bumps its epoch itself and asks again only when the
//     epoch would overflow, where a new id is the right answer too.
//   - With a transactional id the transaction coordinator answers
//     (docs/transactions.md): the previous producer of the id is fenced by
//     an epoch bump, an ongoing transaction is aborted first
//     (CONCURRENT_TRANSACTIONS until it is), NOT_COORDINATOR when this node
//     does not lead the id's __transaction_state partition,
//     COORDINATOR_LOAD_IN_PROGRESS while it loads. Below v4 PRODUCER_FENCED
//     is answered INVALID_PRODUCER_EPOCH, as Kafka does.
//   - When no id block can be reserved the answer is
//     COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
//   - On error ProducerID and ProducerEpoch are -1.
//
// KIPs: KIP-98 (v0), KIP-360 (v3 ProducerID/ProducerEpoch for epoch bumps),
// KIP-482 (v2 flexible), KIP-588 (v4 PRODUCER_FENCED), KIP-890 (v5).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(22, 0, 5, (*Broker).handleInitProducerID) }

// authorizeInitProducerID checks what Kafka checks: WRITE on the
// transactional id, or for an idempotent producer IDEMPOTENT_WRITE on the
// cluster or WRITE on some topic.
func (b *Broker) authorizeInitProducerID(req *Request, txnID *string) *kerr.Error {
	if txnID != nil {
		if !b.allowed(req, auth.OpWrite, auth.ResourceTransactionalID, *txnID) {
			return kerr.TransactionalIDAuthorizationFailed
		}
		return nil
	}
	if b.allowedCluster(req, auth.OpIdempotentWrite) {
		return nil
	}
	p, host := requester(req)
	if !b.authz.Load().AuthorizeAny(p, host, auth.OpWrite, auth.ResourceTopic) {
		return kerr.ClusterAuthorizationFailed
	}
	return nil
}

func (b *Broker) handleInitProducerID(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if err := b.authorizeInitProducerID(req, r.TransactionalID); err != nil {
		resp.ErrorCode = err.Code
		return resp, nil
	}
	if r.TransactionalID == nil {
		id, epoch, err := txn.InitProducer(ctx, b.pids)
		if err != nil {
			resp.ErrorCode = b.errorCode(err)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, epoch
		return resp, nil
	}
	rep, err := b.txns.request(ctx, true, func(c *txn.Coordinator, token uint64, now int64) {
		c.InitProducerID(token, txn.InitTxnRequest{
			TransactionalID: *r.TransactionalID,
			TimeoutMs:       r.TransactionTimeoutMillis,
			ProducerID:      r.ProducerID,
			ProducerEpoch:   r.ProducerEpoch,
		}, now)
	})
	if err != nil {
		return nil, err
	}
	if rep.Err != nil {
		resp.ErrorCode = b.errorCode(txn.ForVersion(rep.Err, req.Key, req.Version))
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = rep.ProducerID, rep.ProducerEpoch
	return resp, nil
}
