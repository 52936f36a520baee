package chaos

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// TestTxnVerifyAcrossNodes checks KIP-890 verification on a 3-node
// cluster where the transaction's coordinator and the partition's leader
// are different nodes: the leader asks the coordinator over the Kafka
// protocol, refuses a batch to a partition not in the transaction and
// takes it once AddPartitionsToTxn added it.
func TestTxnVerifyAcrossNodes(t *testing.T) {
	c := startCluster(t, 3, newNetwork(1), settings)
	cl := c.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, id = "txn-verify", "across"
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"min.insync.replicas": kmsg.StringPtr("1")}, topic); err != nil {
		t.Fatal(err)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr(id), 60000
	ir, err := init.RequestWith(ctx, cl) // routed to the coordinator, retried while it loads
	if err == nil {
		err = kerr.ErrorForCode(ir.ErrorCode)
	}
	if err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	coords := adm.FindTxnCoordinators(ctx, id)
	if err := coords[id].Err; err != nil {
		t.Fatalf("FindCoordinator: %v", err)
	}
	coord := coords[id].NodeID

	// A partition led by another node than the coordinator (RF 1, three
	// partitions over three nodes).
	part, leader := int32(-1), int32(-1)
	cluster.Eventually(t, 30*time.Second, "a partition led away from the coordinator", func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if p.Err == nil && p.Leader >= 0 && p.Leader != coord {
				part, leader = p.Partition, p.Leader
				return true
			}
		}
		return false
	})
	p := &cluster.TxnProducer{ID: ir.ProducerID, Epoch: ir.ProducerEpoch}
	produce := func(v string) error {
		return p.Produce(ctx, cl.Broker(int(leader)), topic, part, kmsg.StringPtr(id), v)
	}
	if err := produce("late"); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("produce to partition %d on node %d, not in the transaction of coordinator %d: got %v, want TRANSACTION_ABORTABLE",
			part, leader, coord, err)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{part}}}
	ar, err := add.RequestWith(ctx, cl)
	if err == nil && len(ar.Topics) == 1 && len(ar.Topics[0].Partitions) == 1 {
		err = kerr.ErrorForCode(ar.Topics[0].Partitions[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	if err := produce("in"); err != nil {
		t.Fatalf("produce to a partition in the transaction: %v", err)
	}
}
