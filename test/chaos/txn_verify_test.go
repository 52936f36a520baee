package chaos

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// TestTxnVerifyAcrossNodes checks KIP-890 verification on a 3-node
// cluster where the transaction's coordinator and the partition's leader
// are different nodes: the leader asks the coordinator over the Kafka
// protocol, refuses a batch of Produce v11 to a partition not in the
// transaction, and adds the partition for Produce v12 (KIP-890 part 2).
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
	produce := func(via *kgo.Client, v string) error {
		return p.Produce(ctx, via.Broker(int(leader)), topic, part, kmsg.StringPtr(id), v)
	}
	if err := produce(c.client(t, cluster.TxnV1()), "late"); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("Produce v11 to partition %d on node %d, not in the transaction of coordinator %d: got %v, want TRANSACTION_ABORTABLE",
			part, leader, coord, err)
	}
	// Transaction version 2: Produce v12 adds the partition itself.
	if err := produce(cl, "in"); err != nil {
		t.Fatalf("Produce v12 to partition %d on node %d: %v", part, leader, err)
	}
	txns, err := adm.DescribeTransactions(ctx, id)
	if err == nil {
		err = txns[id].Err
	}
	if _, in := txns[id].Topics[topic][part]; err != nil || txns[id].State != "Ongoing" || !in {
		t.Fatalf("DescribeTransactions: %v %+v, want Ongoing with partition %d", err, txns[id], part)
	}
}
