package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stratalog/strata/test/cluster"
)

// TestTxnProduceVerified checks KIP-890 part 1 through real requests: a
// transactional batch to a partition not added to its producer's ongoing
// transaction is refused (INVALID_TXN_STATE below Produce v11,
// TRANSACTION_ABORTABLE from v11) and leaves the log as it was; after
// AddPartitionsToTxn it is accepted; with
// transaction.partition.verification.enable switched off at runtime a
// partition not added is accepted too.
func TestTxnProduceVerified(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	cl := franzClient(t, n.addr)
	v10 := kversion.Stable()
	v10.SetMaxKeyVersion(0, 10)
	old := franzClient(t, n.addr, kgo.MaxVersions(v10))
	v11 := tv1Client(t, n.addr) // v12 adds the partition (TestTxnVersion2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	id := "verified"
	pid, epoch := initTxnID(t, cl, id, 60000)
	p := &cluster.TxnProducer{ID: pid, Epoch: epoch}
	produce := func(cl *kgo.Client, partition int32, v string) error {
		t.Helper()
		err := p.Produce(ctx, cl, topic, partition, &id, v)
		for errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicOrPartition) {
			err = p.Produce(ctx, cl, topic, partition, &id, v) // the new topic's leader is not known yet
		}
		return err
	}
	if err := produce(old, 0, "late"); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("Produce v10 to a partition not in the transaction: got %v, want INVALID_TXN_STATE", err)
	}
	if err := produce(v11, 0, "late"); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("Produce v11 to a partition not in the transaction: got %v, want TRANSACTION_ABORTABLE", err)
	}
	if end := listOffsets(t, cl, topic, false); end != 0 {
		t.Fatalf("log end offset after refused batches: got %d, want 0", end)
	}

	if err := addPartitions(t, cl, id, pid, epoch, topic, 0); err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	for _, v := range []string{"first", "second"} { // the second continues the transaction: no round trip
		if err := produce(v11, 0, v); err != nil {
			t.Fatalf("Produce %s to a partition in the transaction: %v", v, err)
		}
	}
	if end := listOffsets(t, cl, topic, false); end != 2 {
		t.Fatalf("log end offset: got %d, want 2", end)
	}

	adm := kadm.NewClient(cl)
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("transaction.partition.verification.enable", "false")})
	eventually(t, 10*time.Second, "a partition not in the transaction to take a batch with verification off", func() bool {
		return produce(v11, 1, "unverified") == nil
	})
}
