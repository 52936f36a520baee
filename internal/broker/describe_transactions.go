package broker

// DescribeTransactions (key 65), version 0.
//
// Behavior:
//   - Per transactional id: its state (Kafka's names), producer id and
//     epoch, timeout, start time and partitions; TRANSACTIONAL_ID_NOT_FOUND
//     for an id the coordinator does not know, NOT_COORDINATOR when this
//     node does not lead its __transaction_state partition,
//     COORDINATOR_LOAD_IN_PROGRESS while it loads.
//   - Under an authorizer, DESCRIBE on the transactional id (else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED); the partitions listed are
//     only those of topics the principal may DESCRIBE.
//
// KIPs: KIP-664.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(65, 0, 0, (*Broker).handleDescribeTransactions) }

func (b *Broker) handleDescribeTransactions(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range r.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		if !b.allowed(req, auth.OpDescribe, auth.ResourceTransactionalID, id) {
			s.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		var d txn.Description
		var err error
		b.txns.read(func(c *txn.Coordinator, _ int64) { d, err = c.Describe(id) })
		if err != nil {
			s.ErrorCode = b.errorCode(err)
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		s.State, s.TimeoutMillis, s.StartTimestamp = d.State.String(), d.TimeoutMs, d.StartMs
		s.ProducerID, s.ProducerEpoch = d.ProducerID, d.ProducerEpoch
		describable := b.topicsAllowed(req, auth.OpDescribe)
		byTopic(d.Partitions, func(topic string, partitions []int32) {
			if !describable(topic) {
				return
			}
			s.Topics = append(s.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: topic, Partitions: partitions})
		})
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp, nil
}
