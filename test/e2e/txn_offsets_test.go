package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// txnOffsetCommit adds group's offsets partition to the transaction and
// commits offsets[p] for each partition p of topic in it; it returns the
// first partition error code.
func txnOffsetCommit(t *testing.T, cl *kgo.Client, id, group string, pid int64, epoch int16, topic string, offsets map[int32]int64) int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, pid, epoch, group
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = id, group, pid, epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	for part, offset := range offsets {
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = part, offset
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{rt}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("TxnOffsetCommit: %v", err)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			return p.ErrorCode
		}
	}
	return 0
}

// fetchOffset returns the group's committed offset of partition 0 of
// topic and the error (group-level first, then the partition's).
func fetchOffset(t *testing.T, cl *kgo.Client, group, topic string, requireStable bool) (int64, int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.RequireStable = requireStable
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return -1, g.ErrorCode
	}
	return g.Topics[0].Partitions[0].Offset, g.Topics[0].Partitions[0].ErrorCode
}

// TestTxnOffsetCommitVisibility: transactional offsets are invisible to
// OffsetFetch (UNSTABLE_OFFSET_COMMIT with RequireStable) until the commit
// marker, never visible after an abort, fenced by the producer epoch, and
// replayed the same way after a restart.
func TestTxnOffsetCommitVisibility(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := franzClient(t, n.addr)
	const id, group = "offsets-txn", "offsets-txn-group"
	pid, epoch := initTxnID(t, cl, id, 60000)
	for _, tc := range []struct {
		offset int64
		commit bool
		before int64
		after  int64
	}{{5, true, -1, 5}, {9, false, 5, 5}} {
		if code := txnOffsetCommit(t, cl, id, group, pid, epoch, topic, map[int32]int64{0: tc.offset}); code != 0 {
			t.Fatalf("TxnOffsetCommit %d: got %v", tc.offset, kerr.ErrorForCode(code))
		}
		if o, code := fetchOffset(t, cl, group, topic, false); o != tc.before || code != 0 {
			t.Fatalf("pending %d: fetched %d (%v), want %d", tc.offset, o, kerr.ErrorForCode(code), tc.before)
		}
		if _, code := fetchOffset(t, cl, group, topic, true); code != kerr.UnstableOffsetCommit.Code {
			t.Fatalf("pending %d, require stable: got %v, want UNSTABLE_OFFSET_COMMIT", tc.offset, kerr.ErrorForCode(code))
		}
		resp, err := endTxn(t, cl, id, pid, epoch, tc.commit)
		if err != nil {
			t.Fatalf("EndTxn: %v", err)
		}
		epoch = resp.ProducerEpoch
		eventually(t, 10*time.Second, "the transaction complete", func() bool {
			return strings.HasPrefix(describeTxn(t, n.addr, id).State, "Complete")
		})
		if o, _ := fetchOffset(t, cl, group, topic, true); o != tc.after {
			t.Fatalf("after commit=%v of %d: fetched %d, want %d", tc.commit, tc.offset, o, tc.after)
		}
	}
	// The markers carried the bumped epoch (transaction version 2): the
	// previous epoch is fenced on the offsets partition.
	if code := txnOffsetCommit(t, cl, id, group, pid, epoch, topic, map[int32]int64{0: 11}); code != 0 {
		t.Fatalf("TxnOffsetCommit at the current epoch: %v", kerr.ErrorForCode(code))
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = id, group, pid, epoch-1, -1
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 12}}}}
	if resp, err := req.RequestWith(context.Background(), cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("TxnOffsetCommit at an old epoch: %v %+v, want INVALID_PRODUCER_EPOCH", err, resp)
	}
	if _, err := endTxn(t, cl, id, pid, epoch, false); err != nil {
		t.Fatalf("EndTxn(abort): %v", err)
	}
	eventually(t, 10*time.Second, "the abort marker", func() bool { return describeTxn(t, n.addr, id).State == "CompleteAbort" })

	// A restart replays __consumer_offsets: the committed transaction's
	// offset, not the aborted ones.
	n.stop()
	n = startNode(t, dir, nil)
	cl = franzClient(t, n.addr)
	eventually(t, 20*time.Second, "the group reloaded", func() bool {
		_, code := fetchOffset(t, cl, group, topic, true)
		return code == 0
	})
	if o, _ := fetchOffset(t, cl, group, topic, true); o != 5 {
		t.Fatalf("after restart: fetched %d, want 5", o)
	}
}

// etlMember is one GroupTransactSession consumer of the ETL test.
type etlMember struct {
	sess *kgo.GroupTransactSession
	stop context.CancelFunc
	done chan struct{}
}

// TestExactlyOnceETL runs the exactly-once pipeline users build with
// franz-go: GroupTransactSession members of one group read topic A, write
// each record transformed to topic B and commit their input offsets in the
// same transaction. One transaction is aborted on purpose, and its member
// then leaves and a new one joins. A session never sends the offsets of a
// transaction it aborts, so before the members start a zombie transaction
// commits the group's offsets at the end of A and aborts: had it counted,
// the members would skip every input. A read_committed reader of B then sees
// every input exactly once; a read_uncommitted one sees the aborted
// records too. It runs with transaction version 2, which franz-go picks
// from ApiVersions (implicit adds, an epoch bump at every end), and with
// clients capped to version 1 (explicit AddPartitionsToTxn and
// AddOffsetsToTxn).
func TestExactlyOnceETL(t *testing.T) {
	t.Run("tv2", func(t *testing.T) { testExactlyOnceETL(t) })
	t.Run("tv1", func(t *testing.T) { testExactlyOnceETL(t, cluster.TxnV1()) })
}

func testExactlyOnceETL(t *testing.T, version ...kgo.Opt) {
	const total = 300
	n := startNode(t, "", nil)
	in, out, group := topicName(t)+"-a", topicName(t)+"-b", topicName(t)+"-g"
	createTopic(t, n.addr, in, 3, nil)
	createTopic(t, n.addr, out, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	p := franzClient(t, n.addr, kgo.DefaultProduceTopic(in))
	recs := make([]*kgo.Record, total)
	for i := range recs {
		recs[i] = kgo.StringRecord(strconv.Itoa(i))
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("fill %s: %v", in, err)
	}

	ends, err := kadm.NewClient(p).ListEndOffsets(ctx, in)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	zombie := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { zombie[o.Partition] = o.Offset })
	zpid, zepoch := initTxnID(t, p, "etl-zombie", 60000)
	if code := txnOffsetCommit(t, p, "etl-zombie", group, zpid, zepoch, in, zombie); code != 0 {
		t.Fatalf("zombie TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	if _, err := endTxn(t, p, "etl-zombie", zpid, zepoch, false); err != nil {
		t.Fatalf("zombie EndTxn(abort): %v", err)
	}
	eventually(t, 10*time.Second, "the zombie aborted", func() bool {
		return describeTxn(t, n.addr, "etl-zombie").State == "CompleteAbort"
	})

	var (
		forceAbort atomic.Bool
		mu         sync.Mutex
		aborted    []string // values written by the aborted transaction
		failures   = make(chan error, 10)
	)
	abortedBy := make(chan *etlMember, 1)
	start := func(name string) (*etlMember, error) {
		sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{
			kgo.SeedBrokers(n.addr),
			kgo.TransactionalID("etl-" + name),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DefaultProduceTopic(out),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.FetchMaxWait(100 * time.Millisecond),
		}, version...)...)
		if err != nil {
			return nil, err
		}
		stopCtx, stop := context.WithCancel(ctx)
		m := &etlMember{sess: sess, stop: stop, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for {
				// Stop only between transactions.
				fs := sess.PollRecords(stopCtx, 20)
				if stopCtx.Err() != nil || fs.IsClientClosed() {
					return
				}
				rs := fs.Records()
				if len(rs) == 0 {
					continue
				}
				if err := sess.Begin(); err != nil {
					failures <- fmt.Errorf("%s: begin: %w", name, err)
					return
				}
				var vals []string
				var outs []*kgo.Record
				for _, r := range rs {
					vals = append(vals, "out-"+string(r.Value))
					outs = append(outs, kgo.StringRecord(vals[len(vals)-1]))
				}
				// The records reach the log before any abort, so that
				// read_uncommitted sees them.
				produced := sess.ProduceSync(ctx, outs...).FirstErr() == nil
				abort := produced && forceAbort.CompareAndSwap(false, true)
				if abort {
					mu.Lock()
					aborted = append(aborted, vals...)
					mu.Unlock()
				}
				// A failed End (a rebalance) aborts and rewinds; the
				// records are processed again.
				if _, err := sess.End(ctx, kgo.TransactionEndTry(produced && !abort)); err != nil && ctx.Err() != nil {
					failures <- fmt.Errorf("%s: end: %w", name, err)
					return
				}
				if abort {
					abortedBy <- m
					return
				}
			}
		}()
		return m, nil
	}
	stopMember := func(m *etlMember) {
		m.stop()
		<-m.done
		m.sess.Close()
	}
	var members []*etlMember // guarded by mu
	for _, name := range []string{"1", "2"} {
		m, err := start(name)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	// The member that aborted leaves; a new one joins.
	replaced := make(chan struct{})
	go func() {
		defer close(replaced)
		select {
		case m := <-abortedBy:
			stopMember(m)
			next, err := start("3")
			if err != nil {
				failures <- err
				return
			}
			mu.Lock()
			for i := range members {
				if members[i] == m {
					members[i] = next
				}
			}
			mu.Unlock()
		case <-ctx.Done():
		}
	}()
	defer func() {
		<-replaced
		for _, m := range members {
			stopMember(m)
		}
	}()

	// Follow B as read_committed until every input is there.
	progress := franzClient(t, n.addr, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	seen := map[string]bool{}
	for len(seen) < total {
		fs := progress.PollFetches(ctx)
		select {
		case err := <-failures:
			t.Fatal(err)
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("committed %d of %d inputs: %v", len(seen), total, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	<-replaced
	if !forceAbort.Load() || len(aborted) == 0 {
		t.Fatal("no transaction was aborted")
	}
	mu.Lock()
	for _, m := range members {
		stopMember(m)
	}
	members = nil
	mu.Unlock()

	// Mark the end of every partition of B, then read it all.
	end := franzClient(t, n.addr, kgo.DefaultProduceTopic(out), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part := range int32(3) {
		if err := end.ProduceSync(ctx, &kgo.Record{Value: []byte("END"), Partition: part}).FirstErr(); err != nil {
			t.Fatalf("end marker: %v", err)
		}
	}
	readAll := func(level kgo.IsolationLevel) map[string]int {
		t.Helper()
		cl := franzClient(t, n.addr, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(100*time.Millisecond))
		counts := map[string]int{}
		for ends := 0; ends < 3; {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %s: %v", out, ctx.Err())
			}
			fs.EachRecord(func(r *kgo.Record) {
				if string(r.Value) == "END" {
					ends++
					return
				}
				counts[string(r.Value)]++
			})
		}
		return counts
	}
	committed := readAll(kgo.ReadCommitted())
	var bad []string
	for i := range total {
		v := "out-" + strconv.Itoa(i)
		if committed[v] != 1 {
			bad = append(bad, fmt.Sprintf("%s×%d", v, committed[v]))
		}
	}
	if len(bad) > 0 || len(committed) != total {
		t.Fatalf("read_committed: %d distinct values, want %d; not exactly once: %s", len(committed), total, strings.Join(bad, " "))
	}
	uncommitted := readAll(kgo.ReadUncommitted())
	for _, v := range aborted {
		if uncommitted[v] < 2 {
			t.Fatalf("read_uncommitted: %s seen %d times, want the aborted copy and the committed one", v, uncommitted[v])
		}
	}
}
