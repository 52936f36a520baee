package broker

// FindCoordinator (key 10), versions 0-6.
//
// Behavior:
//   - Group keys (type 0) map to a partition of __consumer_offsets by
//     Kafka's hash of the group id; the coordinator is that partition's
//     leader (COORDINATOR_NOT_AVAILABLE while it has none). The offsets
//     topic is created on first use, once enough brokers are live.
//   - Transaction keys (type 1) map to a partition of __transaction_state
//     by Kafka's hash of the transactional id; the coordinator is that
//     partition's leader. The topic is created on first use in the same way.
//   - Other key types are INVALID_REQUEST.
//   - v4+ batch keys (KIP-699); before v4 one key.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(10, 0, 6, (*Broker).handleFindCoordinator) }

func (b *Broker) handleFindCoordinator(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := r.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{r.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		if err := b.findCoordinator(ctx, r.CoordinatorType, key, b.listenerOf(req), &c); err != nil {
			c.ErrorCode = b.errorCode(err)
			c.ErrorMessage = errorMessage(err)
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp, nil
}

func (b *Broker) findCoordinator(ctx context.Context, keyType int8, key, listener string, c *kmsg.FindCoordinatorResponseCoordinator) error {
	var topic string
	var idx int32
	var err error
	switch keyType {
	case 0:
		topic, idx, err = offsetsTopic, b.groups.PartitionFor(key), b.ensureOffsetsTopic(ctx)
	case 1:
		topic, idx, err = txnStateTopic, b.txns.PartitionFor(key), b.ensureTxnStateTopic(ctx)
	default:
		return kerr.InvalidRequest
	}
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	t, ok := b.store.Current().Topic(topic)
	if !ok || int(idx) >= len(t.Partitions) {
		return kerr.CoordinatorNotAvailable
	}
	leader := t.Partitions[idx].Leader
	br, ok := b.store.Current().Broker(leader)
	if !ok || br.Fenced {
		return kerr.CoordinatorNotAvailable
	}
	host, port, ok := endpoint(br, listener)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	c.NodeID, c.Host, c.Port = br.ID, host, port
	return nil
}
