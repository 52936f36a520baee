package broker

// InitProducerId (key 22), versions 0-5.
//
// Behavior:
//   - Without a transactional id the producer gets a fresh producer id with
//     epoch 0 from the cluster-wide id blocks (internal/txn). The ProducerID
//     and ProducerEpoch a v3+ client sends (KIP-360) do not change that: an
//     idempotent client bumps its epoch itself and asks again only when the
//     epoch would overflow, where a new id is the right answer too.
//   - An empty transactional id is INVALID_REQUEST. Any other transactional
//     id is TRANSACTIONAL_ID_AUTHORIZATION_FAILED until the transaction
//     coordinator exists (txn.ErrTransactionsUnsupported says why that code):
//     clients report it as fatal instead of retrying until they time out.
//   - When no id block can be reserved the answer is
//     COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
//   - On error ProducerID and ProducerEpoch are -1.
//
// KIPs: KIP-98 (v0), KIP-360 (v3 ProducerID/ProducerEpoch for epoch bumps),
// KIP-482 (v2 flexible), KIP-588 (v4 PRODUCER_FENCED), KIP-890 (v5).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

func init() { register(22, 0, 5, (*Broker).handleInitProducerID) }

func (b *Broker) handleInitProducerID(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	id, epoch, err := txn.InitProducer(ctx, b.pids, txn.InitRequest{
		TransactionalID: r.TransactionalID,
		ProducerID:      r.ProducerID,
		ProducerEpoch:   r.ProducerEpoch,
	})
	if err != nil {
		resp.ErrorCode = b.errorCode(err)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp, nil
}
