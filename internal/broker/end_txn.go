package broker

// EndTxn (key 26), versions 0-5.
//
// Behavior:
//   - Commit or abort: the coordinator logs PrepareCommit or PrepareAbort
//     and answers; it then sends WriteTxnMarkers to every partition's
//     leader and logs CompleteCommit or CompleteAbort once all are written
//     (docs/transactions.md). A retry of the same end after it completed
//     succeeds; the other end is INVALID_TXN_STATE, as in Empty.
//   - Errors: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED
//     (INVALID_PRODUCER_EPOCH below v2), CONCURRENT_TRANSACTIONS while a
//     change or the markers of the same end are in progress,
//     NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
//   - v5 (KIP-890 part 2, transaction version 2): the epoch is bumped at
//     every end and the answer carries the producer id and epoch to use
//     next; an abort with no transaction running succeeds and bumps it
//     too. Clients send v5 when the finalized feature transaction.version
//     is 2, which ApiVersions reports.
//
// KIPs: KIP-98 (v0), KIP-360 (v2), KIP-482 (v3 flexible), KIP-588 (v2
// PRODUCER_FENCED), KIP-890 (v4, v5).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(26, 0, 5, (*Broker).handleEndTxn) }

func (b *Broker) handleEndTxn(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	bump := req.Version >= 5
	if !b.allowed(req, auth.OpWrite, auth.ResourceTransactionalID, r.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	rep, err := b.txns.request(ctx, bump, func(c *txn.Coordinator, token uint64, now int64) {
		c.EndTxn(token, txn.EndTxnRequest{
			TransactionalID: r.TransactionalID,
			ProducerID:      r.ProducerID,
			ProducerEpoch:   r.ProducerEpoch,
			Commit:          r.Commit,
			BumpEpoch:       bump,
		}, now)
	})
	if err != nil {
		return nil, err
	}
	resp.ErrorCode = b.errorCode(txn.ForVersion(rep.Err, req.Key, req.Version))
	resp.ProducerID, resp.ProducerEpoch = rep.ProducerID, rep.ProducerEpoch
	return resp, nil
}
