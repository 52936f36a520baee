package e2e

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stratalog/strata/test/cluster"
)

// requestLog counts the requests a client writes, by API key (a
// kgo.HookBrokerWrite).
type requestLog struct {
	mu   sync.Mutex
	sent map[int16]int
}

func (l *requestLog) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = make(map[int16]int)
	}
	l.sent[key]++
}

func (l *requestLog) count(key int16) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[key]
}

// TestTxnVersion2 checks KIP-890 part 2 with franz-go, which opts in
// because ApiVersions finalizes transaction.version 2: Produce v12 adds its
// partitions without AddPartitionsToTxn (DescribeTransactions lists them),
// every EndTxn bumps the epoch (DescribeTransactions, and DescribeProducers
// on the partition, which has the marker's epoch), a late write of the old
// epoch is refused, and read_committed sees only committed records. A
// client capped to transaction version 1 keeps its epoch and adds
// partitions explicitly on the same broker.
func TestTxnVersion2(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// ApiVersions v3+ reports the feature.
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "strata-test", "1"
	avr, err := av.RequestWith(ctx, franzClient(t, n.addr).Broker(1))
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	if len(avr.FinalizedFeatures) != 1 || avr.FinalizedFeatures[0].Name != "transaction.version" ||
		avr.FinalizedFeatures[0].MaxVersionLevel != 2 || avr.FinalizedFeaturesEpoch < 0 ||
		len(avr.SupportedFeatures) != 1 || avr.SupportedFeatures[0].MaxVersion != 2 {
		t.Fatalf("ApiVersions v%d features: supported %+v, finalized %+v (epoch %d); want transaction.version 2",
			avr.Version, avr.SupportedFeatures, avr.FinalizedFeatures, avr.FinalizedFeaturesEpoch)
	}

	var reqs requestLog
	p := franzClient(t, n.addr, kgo.TransactionalID("tv2"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.WithHooks(&reqs))
	// franz-go opts in at BeginTransaction once it knows a broker's
	// ApiVersions.
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	adm := kadm.NewClient(franzClient(t, n.addr))
	var epochs []int16
	run := func(commit kgo.TransactionEndTry, values ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: int32(i % 2)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		d := describeTxn(t, n.addr, "tv2")
		if _, p0 := d.Topics[topic][0]; d.State != "Ongoing" || !p0 || len(d.Topics[topic]) != min(len(values), 2) {
			t.Fatalf("during the transaction: %+v, want Ongoing with %s 0,1", d, topic)
		}
		epochs = append(epochs, d.ProducerEpoch)
		if err := p.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	run(kgo.TryCommit, "c1", "c2")
	run(kgo.TryAbort, "a1", "a2")
	run(kgo.TryCommit, "c3", "c4")
	if n := reqs.count(int16(kmsg.AddPartitionsToTxn)); n != 0 {
		t.Fatalf("the client sent %d AddPartitionsToTxn, want none (transaction version 2)", n)
	}
	if epochs[1] != epochs[0]+1 || epochs[2] != epochs[0]+2 {
		t.Fatalf("epochs of three transactions: %v, want one more at each", epochs)
	}
	var last kadm.DescribedTransaction
	eventually(t, 10*time.Second, "the last commit complete", func() bool {
		last = describeTxn(t, n.addr, "tv2")
		return last.State == "CompleteCommit"
	})
	if last.ProducerEpoch != epochs[0]+3 {
		t.Fatalf("after three ends: epoch %d, want %d", last.ProducerEpoch, epochs[0]+3)
	}
	prods, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("DescribeProducers: %v", err)
	}
	ps := prods[topic].Partitions[0]
	if pr, ok := ps.ActiveProducers[last.ProducerID]; !ok || pr.ProducerEpoch != last.ProducerEpoch || pr.CurrentTxnStartOffset != -1 {
		t.Fatalf("partition 0 producers %+v: want %d at epoch %d (the commit marker's) with no open transaction",
			ps.ActiveProducers, last.ProducerID, last.ProducerEpoch)
	}

	// A late write of an old epoch cannot start a transaction.
	late := &cluster.TxnProducer{ID: last.ProducerID, Epoch: epochs[2]}
	id := "tv2"
	if err := late.Produce(ctx, franzClient(t, n.addr), topic, 0, &id, "late"); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("Produce v12 of the previous epoch: got %v, want INVALID_PRODUCER_EPOCH", err)
	}

	read := func(want int) []string {
		t.Helper()
		return readSorted(ctx, t, n.addr, topic, kgo.ReadCommitted(), want)
	}
	if got, want := read(4), []string{"c1", "c2", "c3", "c4"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed: got %q, want %q", got, want)
	}

	// Transaction version 1 on the same broker: explicit adds, no bump.
	var reqs1 requestLog
	p1 := tv1Client(t, n.addr, kgo.TransactionalID("tv1"), kgo.DefaultProduceTopic(topic), kgo.WithHooks(&reqs1))
	var epochs1 []int16
	for _, v := range []string{"v1-a", "v1-b"} {
		if err := p1.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p1.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("TV1 produce: %v", err)
		}
		if err := p1.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("TV1 commit: %v", err)
		}
		var d kadm.DescribedTransaction
		eventually(t, 10*time.Second, "the TV1 commit complete", func() bool {
			d = describeTxn(t, n.addr, "tv1")
			return d.State == "CompleteCommit"
		})
		epochs1 = append(epochs1, d.ProducerEpoch)
	}
	if epochs1[0] != epochs1[1] {
		t.Fatalf("TV1 epochs after two commits: %v, want unchanged", epochs1)
	}
	if reqs1.count(int16(kmsg.AddPartitionsToTxn)) == 0 {
		t.Fatal("the TV1 client sent no AddPartitionsToTxn")
	}
	if got := read(6); len(got) != 6 {
		t.Fatalf("read_committed after the TV1 commits: got %q", got)
	}
}

// TestTxnEmptyAbortVersion2 checks that EndTxn v5 aborting a transaction
// that never started (franz-go does it when every produce failed) succeeds
// and bumps the epoch, where v4 answers INVALID_TXN_STATE.
func TestTxnEmptyAbortVersion2(t *testing.T) {
	n := startNode(t, "", nil)
	cl := franzClient(t, n.addr)
	pid, epoch := initTxnID(t, cl, "empty", 60000)
	if _, err := endTxn(t, txnClient(t, n.addr, 4), "empty", pid, epoch, false); err != kerr.InvalidTxnState {
		t.Fatalf("EndTxn v4 abort in Empty: got %v, want INVALID_TXN_STATE", err)
	}
	resp, err := endTxn(t, cl, "empty", pid, epoch, false)
	if err != nil || resp.ProducerID != pid || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5 abort in Empty: %v, producer (%d, %d), want (%d, %d)", err, resp.ProducerID, resp.ProducerEpoch, pid, epoch+1)
	}
	// EndTxn is answered once PrepareAbort is logged; CompleteAbort follows.
	var d kadm.DescribedTransaction
	eventually(t, 10*time.Second, "the empty abort complete", func() bool {
		d = describeTxn(t, n.addr, "empty")
		return d.State == "CompleteAbort"
	})
	if d.ProducerEpoch != epoch+1 {
		t.Fatalf("described %+v, want CompleteAbort at epoch %d", d, epoch+1)
	}
}

// TestTxnOffsetCommitVerified checks KIP-890 for TxnOffsetCommit: an
// offset commit whose group partition was not added to the transaction
// (no AddOffsetsToTxn) is refused, TRANSACTION_ABORTABLE from v4 and
// INVALID_TXN_STATE below, and nothing is pending; v5 (transaction version
// 2) adds the partition itself.
func TestTxnOffsetCommitVerified(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	commit := func(max int16, id string, pid int64, epoch int16) error {
		t.Helper()
		v := kversion.Stable()
		v.SetMaxKeyVersion(28, max)
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = id, "g-"+id, pid, epoch, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 5
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, franzClient(t, n.addr, kgo.MaxVersions(v)))
		if err != nil {
			t.Fatalf("TxnOffsetCommit: %v", err)
		}
		if resp.Version != max {
			t.Fatalf("TxnOffsetCommit answered in v%d, want v%d", resp.Version, max)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	cl := franzClient(t, n.addr)
	for _, c := range []struct {
		max  int16
		want error
	}{{3, kerr.InvalidTxnState}, {4, kerr.TransactionAbortable}} {
		id := "offsets-v" + strconv.Itoa(int(c.max))
		pid, epoch := initTxnID(t, cl, id, 60000)
		if err := commit(c.max, id, pid, epoch); !errors.Is(err, c.want) {
			t.Fatalf("TxnOffsetCommit v%d without AddOffsetsToTxn: got %v, want %v", c.max, err, c.want)
		}
		if d := describeTxn(t, n.addr, id); d.State != "Empty" {
			t.Fatalf("after the refused commit: %+v, want Empty", d)
		}
	}
	pid, epoch := initTxnID(t, cl, "offsets-v5", 60000)
	if err := commit(5, "offsets-v5", pid, epoch); err != nil {
		t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn: %v", err)
	}
	if d := describeTxn(t, n.addr, "offsets-v5"); d.State != "Ongoing" || len(d.Topics["__consumer_offsets"]) != 1 {
		t.Fatalf("after TxnOffsetCommit v5: %+v, want Ongoing with a __consumer_offsets partition", d)
	}
}
