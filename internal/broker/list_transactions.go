package broker

// ListTransactions (key 66), versions 0-1.
//
// Behavior:
//   - The transactional ids of the __transaction_state partitions this
//     node leads (clients ask every broker), filtered by state names,
//     producer ids and (v1, KIP-994) a minimum running time. State names
//     Strata does not know are returned in UnknownStateFilters.
//   - COORDINATOR_LOAD_IN_PROGRESS while a partition loads.
//   - Under an authorizer, only the ids the principal may DESCRIBE are
//     listed.
//   - v2 (KIP-1152, a transactional id pattern; Kafka 4.1) is not served.
//
// KIPs: KIP-664 (v0), KIP-994 (v1).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(66, 0, 1, (*Broker).handleListTransactions) }

func (b *Broker) handleListTransactions(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	f := txn.ListFilter{States: r.StateFilters, ProducerIDs: r.ProducerIDFilters, MinDurationMs: -1}
	if req.Version >= 1 {
		f.MinDurationMs = r.DurationFilterMillis
	}
	var list []txn.Listing
	var unknown []string
	var err error
	b.txns.read(func(c *txn.Coordinator, now int64) { list, unknown, err = c.List(f, now) })
	if err != nil {
		resp.ErrorCode = b.errorCode(err)
		return resp, nil
	}
	resp.UnknownStateFilters = unknown
	for _, l := range list {
		if !b.allowed(req, auth.OpDescribe, auth.ResourceTransactionalID, l.TransactionalID) {
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = l.TransactionalID, l.ProducerID, l.State.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp, nil
}
