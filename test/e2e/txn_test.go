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

	"github.com/stratalog/strata/test/cluster"
)

// noTxnVerification lets a test's hand-made transactions, which no
// coordinator knows, write to partitions (KIP-890 verification off).
var noTxnVerification = map[string]string{"transaction.partition.verification.enable": "false"}

func initProducer(t *testing.T, cl *kgo.Client) *cluster.TxnProducer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := cluster.InitProducer(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// produceTxn sends values as one transactional batch of p to partition 0
// of topic.
func produceTxn(t *testing.T, cl *kgo.Client, p *cluster.TxnProducer, topic string, txnID *string, values ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Produce(ctx, cl, topic, 0, txnID, values...)
}

// writeMarkers sends WriteTxnMarkers for the producer's transaction on partition
// 0 of topic, with the given producer epoch, to broker 1 (as a coordinator
// sends it to a leader, and not through the client's routing, which would
// answer a missing topic itself), and returns the partition's error.
func writeMarkers(t *testing.T, cl *kgo.Client, topic string, id int64, epoch int16, commit bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Broker(1).Request(ctx, cluster.EndTxnRequest(id, epoch, commit, topic, 0))
	if err != nil {
		t.Fatal(err)
	}
	return cluster.EndTxnError(resp.(*kmsg.WriteTxnMarkersResponse))
}

// consumeN reads n values from partition 0 of topic with a new consumer at
// the isolation level (see cluster.ConsumeValues).
func consumeN(t *testing.T, addr, topic string, level kgo.IsolationLevel, n int) []string {
	t.Helper()
	cl := franzClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return cluster.ConsumeValues(ctx, t, cl, n)
}

// listOffsets returns the latest offset of partition 0 of topic at the
// isolation level: the high watermark or the last stable offset.
func listOffsets(t *testing.T, cl *kgo.Client, topic string, committed bool) int64 {
	t.Helper()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res kadm.ListedOffsets
	var err error
	if committed {
		res, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		res, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil {
		t.Fatal(err)
	}
	o, ok := res.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("list offsets of %s: %+v", topic, o)
	}
	return o.Offset
}

// abortedInFetch fetches partition 0 of topic from offset 0 with
// read_committed and returns the answer's last stable offset and aborted
// transactions.
func abortedInFetch(t *testing.T, cl *kgo.Client, topic string) (int64, []kmsg.FetchResponseTopicPartitionAbortedTransaction) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || tds[topic].Err != nil {
		t.Fatalf("list topic %s: %v %+v", topic, err, tds[topic])
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.IsolationLevel, req.SessionEpoch = -1, 1<<20, 1, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, tds[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch: error %d", p.ErrorCode)
	}
	return p.LastStableOffset, p.AbortedTransactions
}

// TestReadCommitted: transactional batches from three producers, one
// committed, one aborted and one left open; read_committed consumers see
// the committed records only and nothing past the open transaction,
// read_uncommitted consumers see everything, and both survive a restart.
func TestReadCommitted(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, noTxnVerification)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := tv1Client(t, n.addr) // v12 would add the partition to a transaction
	txnID := kmsg.StringPtr("etl")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	leads := func(hw int64) func() bool {
		return func() bool {
			res, err := adm.ListEndOffsets(ctx, topic)
			o, ok := res.Lookup(topic, 0)
			return err == nil && ok && o.Err == nil && o.Offset == hw
		}
	}
	eventually(t, 10*time.Second, "the partition to have a leader", leads(0))
	plain := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite())
	if err := plain.ProduceSync(ctx, kgo.StringRecord("n0")).FirstErr(); err != nil { // offset 0
		t.Fatal(err)
	}
	a, b, c := initProducer(t, cl), initProducer(t, cl), initProducer(t, cl)
	for _, step := range []struct {
		p      *cluster.TxnProducer
		values []string
	}{
		{a, []string{"a1", "a2"}}, // 1-2
		{b, []string{"b1"}},       // 3
		{a, []string{"a3"}},       // 4
		{c, []string{"c1"}},       // 5, left open
	} {
		if err := produceTxn(t, cl, step.p, topic, txnID, step.values...); err != nil {
			t.Fatalf("produce %v: %v", step.values, err)
		}
	}
	if err := writeMarkers(t, cl, topic, a.ID, a.Epoch, true); err != nil { // 6
		t.Fatalf("commit: %v", err)
	}
	if err := writeMarkers(t, cl, topic, b.ID, b.Epoch, false); err != nil { // 7
		t.Fatalf("abort: %v", err)
	}
	if err := plain.ProduceSync(ctx, kgo.StringRecord("n1")).FirstErr(); err != nil { // 8, after the open transaction
		t.Fatal(err)
	}

	// Errors, none of which touches the log.
	if err := produceTxn(t, cl, b, topic, nil, "x"); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("transactional batch without a transactional id: got %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
	if err := writeMarkers(t, cl, topic, a.ID, a.Epoch-1, true); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("marker with an old epoch: got %v, want INVALID_PRODUCER_EPOCH", err)
	}
	if err := writeMarkers(t, cl, topic+"-missing", a.ID, a.Epoch, true); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("marker for a missing topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	check := func(stage string) {
		t.Helper()
		if hw, lso := listOffsets(t, cl, topic, false), listOffsets(t, cl, topic, true); hw != 9 || lso != 5 {
			t.Fatalf("%s: ListOffsets latest: read_uncommitted %d, read_committed %d; want 9 and 5", stage, hw, lso)
		}
		if got, want := consumeN(t, n.addr, topic, kgo.ReadCommitted(), 4), []string{"n0", "a1", "a2", "a3"}; !slices.Equal(got, want) {
			t.Fatalf("%s: read_committed consumed %q, want %q", stage, got, want)
		}
		if got, want := consumeN(t, n.addr, topic, kgo.ReadUncommitted(), 7), []string{"n0", "a1", "a2", "b1", "a3", "c1", "n1"}; !slices.Equal(got, want) {
			t.Fatalf("%s: read_uncommitted consumed %q, want %q", stage, got, want)
		}
		dp, err := kadm.NewClient(cl).DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatalf("%s: DescribeProducers: %v", stage, err)
		}
		ps := dp[topic].Partitions[0]
		open := ps.ActiveProducers[c.ID]
		if ps.Err != nil || len(ps.ActiveProducers) != 3 || open.CurrentTxnStartOffset != 5 || open.LastSequence != 0 ||
			ps.ActiveProducers[a.ID].CurrentTxnStartOffset != -1 || ps.ActiveProducers[a.ID].LastSequence != 2 {
			t.Fatalf("%s: DescribeProducers: %+v; want producers %d, %d, %d with only %d's transaction open at 5", stage, ps, a.ID, b.ID, c.ID, c.ID)
		}
		lso, aborted := abortedInFetch(t, cl, topic)
		if lso != 5 || len(aborted) != 1 || aborted[0].ProducerID != b.ID || aborted[0].FirstOffset != 3 {
			t.Fatalf("%s: fetch answered last stable offset %d, aborted %+v; want 5 and producer %d from offset 3", stage, lso, aborted, b.ID)
		}
	}
	check("before the restart")
	n.stop()
	n = startNode(t, dir, noTxnVerification)
	cl = franzClient(t, n.addr)
	adm = kadm.NewClient(cl)
	eventually(t, 10*time.Second, "the partition to lead again", leads(9))
	check("after the restart")

	// Committing the open transaction releases it and what follows it.
	if err := writeMarkers(t, cl, topic, c.ID, c.Epoch, true); err != nil {
		t.Fatal(err)
	}
	if got, want := consumeN(t, n.addr, topic, kgo.ReadCommitted(), 6), []string{"n0", "a1", "a2", "a3", "c1", "n1"}; !slices.Equal(got, want) {
		t.Fatalf("after the last commit: read_committed consumed %q, want %q", got, want)
	}
}
