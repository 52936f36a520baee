package e2e

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stratalog/strata/test/cluster"
)

// These tests check what the transaction coordinator logs and answers; the
// driver's marker handling is tested in internal/broker, and the whole
// path through franz-go's transactional producer in TestTxnProducer.

// txnClient returns a franz-go client whose AddPartitionsToTxn,
// AddOffsetsToTxn and EndTxn are capped at version max (-1: no cap).
func txnClient(t *testing.T, addr string, max int16) *kgo.Client {
	t.Helper()
	if max < 0 {
		return franzClient(t, addr)
	}
	v := kversion.Stable()
	for _, k := range []int16{24, 25, 26} {
		v.SetMaxKeyVersion(k, max)
	}
	return franzClient(t, addr, kgo.MaxVersions(v))
}

// tv1Client returns a franz-go client of transaction version 1
// (cluster.TxnV1).
func tv1Client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return franzClient(t, addr, append(opts, cluster.TxnV1())...)
}

// initTxnID sends InitProducerId for a transactional id, which franz-go
// routes to the id's coordinator (FindCoordinator, key type 1).
func initTxnID(t *testing.T, cl *kgo.Client, id string, timeoutMs int32) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("InitProducerId %s: %v", id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("InitProducerId %s: %v", id, err)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// addPartitions sends AddPartitionsToTxn to node 1, which coordinates
// every id of a one-node cluster, in the form of the version franz-go picks
// (v0-3: one transaction; v4+: a batch of one), and returns the first
// partition's error.
func addPartitions(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, topic string, parts ...int32) error {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: parts}}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: parts}}}}
	resp, err := req.RequestWith(context.Background(), cl.Broker(1))
	if err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	if resp.Version >= 4 {
		return kerr.ErrorForCode(resp.Transactions[0].Topics[0].Partitions[0].ErrorCode)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// endTxn sends EndTxn at the version franz-go picks (v5 unless capped)
// and returns the response and its error.
func endTxn(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) (*kmsg.EndTxnResponse, error) {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("EndTxn: %v", err)
	}
	return resp, kerr.ErrorForCode(resp.ErrorCode)
}

func describeTxn(t *testing.T, addr, id string) kadm.DescribedTransaction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(franzClient(t, addr)).DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatalf("DescribeTransactions: %v", err)
	}
	return res[id]
}

func TestTxnInitProducerIDFences(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	for _, tc := range []struct {
		max  int16
		want error
	}{{-1, kerr.ProducerFenced}, {1, kerr.InvalidProducerEpoch}} {
		cl := txnClient(t, n.addr, tc.max)
		id := topic + "-" + tc.want.Error()
		pid, epoch := initTxnID(t, cl, id, 60000)
		if epoch != 0 {
			t.Fatalf("first InitProducerId: epoch %d, want 0", epoch)
		}
		pid2, epoch2 := initTxnID(t, franzClient(t, n.addr), id, 60000)
		if pid2 != pid || epoch2 != 1 {
			t.Fatalf("second InitProducerId: (%d, %d), want (%d, 1)", pid2, epoch2, pid)
		}
		if err := addPartitions(t, cl, id, pid, epoch, topic, 0); err != tc.want {
			t.Fatalf("fenced producer's AddPartitionsToTxn: got %v, want %v", err, tc.want)
		}
		if err := addPartitions(t, cl, id, pid2, epoch2, topic, 0); err != nil {
			t.Fatalf("new producer's AddPartitionsToTxn: %v", err)
		}
		if _, err := endTxn(t, cl, id, pid, epoch, false); err != tc.want {
			t.Fatalf("fenced producer's EndTxn: got %v, want %v", err, tc.want)
		}
	}
}

func TestTxnEndDescribeRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	cl := franzClient(t, n.addr)
	pid, epoch := initTxnID(t, cl, "commit-me", 60000)
	if err := addPartitions(t, cl, "commit-me", pid, epoch, topic, 0, 1); err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	if err := addPartitions(t, cl, "commit-me", pid, epoch, "no-such-topic", 0); err != kerr.UnknownTopicOrPartition {
		t.Fatalf("AddPartitionsToTxn of a missing topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "commit-me", pid, epoch, "g"
	if resp, err := add.RequestWith(context.Background(), cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	d := describeTxn(t, n.addr, "commit-me")
	if d.Err != nil || d.State != "Ongoing" || d.ProducerID != pid || len(d.Topics[topic]) != 2 || len(d.Topics["__consumer_offsets"]) != 1 {
		t.Fatalf("described %+v, want Ongoing with %s 0,1 and a __consumer_offsets partition", d, topic)
	}
	pidA, epochA := initTxnID(t, cl, "idle", 60000)
	if _, err := endTxn(t, txnClient(t, n.addr, 4), "idle", pidA, epochA, false); err != kerr.InvalidTxnState {
		t.Fatalf("EndTxn v4 in Empty: got %v, want INVALID_TXN_STATE", err)
	}
	// franz-go sends EndTxn v5 (transaction version 2): the epoch is bumped.
	resp, err := endTxn(t, cl, "commit-me", pid, epoch, true)
	if err != nil || resp.Version != 5 || resp.ProducerID != pid || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn(commit): %v, v%d producer (%d, %d), want v5 (%d, %d)", err, resp.Version, resp.ProducerID, resp.ProducerEpoch, pid, epoch+1)
	}
	eventually(t, 10*time.Second, "the markers written", func() bool {
		return describeTxn(t, n.addr, "commit-me").State == "CompleteCommit"
	})
	// A retry of the same EndTxn (the old epoch, transaction version 2)
	// gets the same answer, as Kafka's coordinator treats it.
	if resp, err := endTxn(t, cl, "commit-me", pid, epoch, true); err != nil || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn(commit) retried: got %v, epoch %d; want success with epoch %d", err, resp.ProducerEpoch, epoch+1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListTransactions(ctx, nil, []string{"CompleteCommit", "Nonsense"})
	if err != nil {
		t.Fatalf("ListTransactions: %v", err)
	}
	if ids := listed.TransactionalIDs(); len(ids) != 1 || ids[0] != "commit-me" {
		t.Fatalf("listed %v, want [commit-me]", ids)
	}

	// A restart on the same data reloads the state from __transaction_state.
	n.stop()
	n = startNode(t, dir, nil)
	eventually(t, 20*time.Second, "commit-me reloaded", func() bool {
		d := describeTxn(t, n.addr, "commit-me")
		return d.Err == nil && d.State == "CompleteCommit" && d.ProducerID == pid && d.ProducerEpoch == epoch+1
	})
	d = describeTxn(t, n.addr, "idle")
	if d.Err != nil || d.State != "Empty" || d.ProducerID != pidA {
		t.Fatalf("idle after restart: %+v, want Empty with producer id %d", d, pidA)
	}
	if _, e := initTxnID(t, franzClient(t, n.addr), "idle", 60000); e != epochA+1 {
		t.Fatalf("InitProducerId after restart: epoch %d, want %d", e, epochA+1)
	}
}

func TestTxnTimeoutAborts(t *testing.T) {
	n := startNode(t, "", map[string]string{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "20"})
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := franzClient(t, n.addr)
	pid, epoch := initTxnID(t, cl, "slow", 100)
	if err := addPartitions(t, cl, "slow", pid, epoch, topic, 0); err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	// Two epochs up, as Kafka 4 at transaction version 2: the fence, then
	// the abort's own bump.
	eventually(t, 10*time.Second, "the timed-out transaction aborted", func() bool {
		d := describeTxn(t, n.addr, "slow")
		return d.State == "CompleteAbort" && d.ProducerEpoch == epoch+2
	})
	if _, err := endTxn(t, cl, "slow", pid, epoch, true); err != kerr.ProducerFenced {
		t.Fatalf("EndTxn of the timed-out producer: got %v, want PRODUCER_FENCED", err)
	}
}

// TestTxnProducer runs franz-go's transactional producer end to end: one
// transaction committed and one aborted, across two partitions, then a
// read_committed consumer sees exactly the committed records and a
// read_uncommitted one sees both; a second producer with the same
// transactional id fences the first.
// readSorted reads topic from the start at isolation level until it has
// want values, and returns them sorted.
func readSorted(ctx context.Context, t *testing.T, addr, topic string, level kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl := franzClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(100*time.Millisecond))
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v (%q)", len(got), want, ctx.Err(), got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got)
	return got
}

func TestTxnProducer(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := franzClient(t, n.addr, kgo.TransactionalID("etl"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	run := func(commit kgo.TransactionEndTry, values ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if err := p.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		if err := p.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	run(kgo.TryCommit, "c1", "c2", "c3", "c4")
	run(kgo.TryAbort, "a1", "a2")
	run(kgo.TryCommit, "c5", "c6")

	read := func(level kgo.IsolationLevel, want int) []string {
		t.Helper()
		return readSorted(ctx, t, n.addr, topic, level, want)
	}
	if got, want := read(kgo.ReadCommitted(), 6), []string{"c1", "c2", "c3", "c4", "c5", "c6"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed: got %q, want %q", got, want)
	}
	if got, want := read(kgo.ReadUncommitted(), 8), []string{"a1", "a2", "c1", "c2", "c3", "c4", "c5", "c6"}; !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted: got %q, want %q", got, want)
	}
	d := describeTxn(t, n.addr, "etl")
	if d.Err != nil || d.State != "CompleteCommit" {
		t.Fatalf("described %+v, want CompleteCommit", d)
	}

	// A second producer of the same id fences the first.
	p2 := franzClient(t, n.addr, kgo.TransactionalID("etl"), kgo.DefaultProduceTopic(topic))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, kgo.StringRecord("p2")).FirstErr(); err != nil {
		t.Fatalf("the new producer: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	err := p.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr()
	if err == nil {
		err = p.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the fenced producer: got %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	if err := p2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("the new producer's commit: %v", err)
	}
}
