package broker

// AddOffsetsToTxn (key 25), versions 0-4.
//
// Behavior:
//   - The group's __consumer_offsets partition joins the transaction, so
//     that its markers reach the group coordinator: as AddPartitionsToTxn
//     for that one partition (docs/transactions.md), with the same errors.
//   - Below v2 PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH.
//
// KIPs: KIP-98 (v0), KIP-360 (v2), KIP-482 (v3 flexible), KIP-588 (v2
// PRODUCER_FENCED), KIP-890 (v4).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(25, 0, 4, (*Broker).handleAddOffsetsToTxn) }

func (b *Broker) handleAddOffsetsToTxn(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !b.allowed(req, auth.OpWrite, auth.ResourceTransactionalID, r.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	case !b.allowed(req, auth.OpRead, auth.ResourceGroup, r.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	rep, err := b.txns.request(ctx, false, func(c *txn.Coordinator, token uint64, now int64) {
		c.AddOffsets(token, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group, now)
	})
	if err != nil {
		return nil, err
	}
	resp.ErrorCode = b.errorCode(txn.ForVersion(rep.Err, req.Key, req.Version))
	return resp, nil
}
