package clients

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/test/cluster"
)

// settings are the cluster's broker settings: replication factor 3 with
// acks=all needing two in-sync replicas, replicated committed offsets, and
// no delay before a new group's first rebalance.
var settings = map[string]string{
	"default.replication.factor":       "3",
	"min.insync.replicas":              "2",
	"offsets.topic.replication.factor": "3",
	"offsets.topic.num.partitions":     "3",
	"group.initial.rebalance.delay.ms": "0",
}

const (
	nodes = 3
	// replicas is the replication factor of every topic the tests create.
	replicas = 3
	// partitions of every topic the tests create.
	partitions = 3
	// lifeRecords are produced and read back by each lifecycle test.
	lifeRecords = 3000
	// readyTimeout bounds a start or restart of the cluster's nodes.
	readyTimeout = 30 * time.Second
)

// startCluster starts a three-node cluster for the test and waits until
// every node is ready.
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster of strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: nodes, Settings: settings})
	c.WaitReady(readyTimeout)
	return c
}

// addrs returns the Kafka addresses of every node of c, running or not, for
// a client's bootstrap list.
func addrs(c *cluster.Cluster) []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.KafkaAddr())
	}
	return out
}

// topicName makes a topic (or group) name unique to the test.
func topicName(t *testing.T) string {
	return strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
}

// eventually polls cond until it holds, failing the test after timeout with
// what and the last error cond returned.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// partitionInfo is one partition as a client's metadata shows it.
type partitionInfo struct {
	leader        int32
	replicas, isr []int32
}

// checkLayout checks metadata as a client read it: the cluster's three
// brokers, and partitions 0..partitions-1 of the topic each with a leader,
// three distinct replicas and all of them in sync.
func checkLayout(brokers []int32, parts map[int32]partitionInfo) error {
	brokers = slices.Sorted(slices.Values(brokers))
	if !slices.Equal(brokers, []int32{1, 2, 3}) {
		return fmt.Errorf("metadata lists brokers %v, want [1 2 3]", brokers)
	}
	if len(parts) != partitions {
		return fmt.Errorf("metadata lists %d partitions, want %d", len(parts), partitions)
	}
	for p := range int32(partitions) {
		info, ok := parts[p]
		if !ok {
			return fmt.Errorf("partition %d missing from metadata", p)
		}
		reps := slices.Compact(slices.Sorted(slices.Values(info.replicas)))
		if len(reps) != replicas || len(info.replicas) != replicas {
			return fmt.Errorf("partition %d: replicas %v, want %d distinct brokers", p, info.replicas, replicas)
		}
		if isr := slices.Sorted(slices.Values(info.isr)); !slices.Equal(isr, reps) {
			return fmt.Errorf("partition %d: in-sync replicas %v, want all of %v", p, info.isr, info.replicas)
		}
		if !slices.Contains(reps, info.leader) {
			return fmt.Errorf("partition %d: leader %d is not one of the replicas %v", p, info.leader, info.replicas)
		}
	}
	return nil
}

// Record i of a lifecycle test goes to partition i%partitions with key
// "k-<i>" and a value naming the client, so it lands at offset
// i/partitions of a fresh topic when a client keeps produce order.
func lifeKey(i int) string                  { return fmt.Sprintf("k-%d", i) }
func lifeValue(client string, i int) string { return fmt.Sprintf("%s-value-%05d", client, i) }
func lifePartition(i int) int32             { return int32(i % partitions) }
func lifeOffset(i int) int64                { return int64(i / partitions) }

// perPartition is how many lifecycle records partition p holds.
func perPartition(p int32) int64 {
	return int64((lifeRecords - int(p) + partitions - 1) / partitions)
}

// checkAck checks that record i was acknowledged where a client that keeps
// produce order must put it in a fresh topic.
func checkAck(t *testing.T, i int, partition int32, offset int64) {
	t.Helper()
	if partition != lifePartition(i) || offset != lifeOffset(i) {
		t.Errorf("record %d acknowledged at partition %d offset %d, want partition %d offset %d",
			i, partition, offset, lifePartition(i), lifeOffset(i))
	}
}

// consumed collects records a consumer read and checks them against the
// lifecycle records: every record once, in offset order per partition,
// with the key and value produced at that offset.
type consumed struct {
	client string
	mu     sync.Mutex
	next   map[int32]int64 // partition -> next offset expected
	count  int
	errs   []string
}

func newConsumed(client string) *consumed {
	return &consumed{client: client, next: map[int32]int64{}}
}

func (c *consumed) add(partition int32, offset int64, key, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offset != c.next[partition] {
		c.errf("partition %d: got offset %d, want %d", partition, offset, c.next[partition])
	}
	c.next[partition] = offset + 1
	i := int(offset)*partitions + int(partition)
	if string(key) != lifeKey(i) || string(value) != lifeValue(c.client, i) {
		c.errf("partition %d offset %d: got key %q value %q, want %q %q",
			partition, offset, key, value, lifeKey(i), lifeValue(c.client, i))
	}
	c.count++
}

func (c *consumed) errf(format string, args ...any) {
	if len(c.errs) < 20 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// done reports whether every partition has been read to its end.
func (c *consumed) done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range int32(partitions) {
		if c.next[p] < perPartition(p) {
			return false
		}
	}
	return true
}

// check fails the test unless exactly the lifecycle records were read.
func (c *consumed) check(t *testing.T, how string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Errorf("%s: %s", how, e)
	}
	if c.count != lifeRecords {
		t.Errorf("%s: read %d records, want %d", how, c.count, lifeRecords)
	}
}

// admin returns a kadm client of franz-go on every node of c, for the
// checks that are not the client under test's: waiting for a full ISR
// after a fault and the cross-check read of a topic.
func admin(t *testing.T, c *cluster.Cluster) (*kgo.Client, *kadm.Client) {
	cl := c.Client(t)
	return cl, kadm.NewClient(cl)
}

// waitFullISR waits until every partition of topic has all its replicas
// in sync again, as a restarted node catches up.
func waitFullISR(t *testing.T, adm *kadm.Client, topic string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every replica back in sync", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		return checkKadmLayout(md, topic)
	})
}

// checkKadmLayout is checkLayout on topic in metadata read with kadm.
func checkKadmLayout(md kadm.Metadata, topic string) error {
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return fmt.Errorf("topic missing from metadata (%v)", td.Err)
	}
	parts := map[int32]partitionInfo{}
	for _, p := range td.Partitions {
		parts[p.Partition] = partitionInfo{leader: p.Leader, replicas: p.Replicas, isr: p.ISR}
	}
	var brokers []int32
	for _, b := range md.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	return checkLayout(brokers, parts)
}

// faultRun is the state of one kill-the-leader test: a ledger of every
// value the client under test sent and where it was acknowledged, and
// acknowledgement counts per partition.
type faultRun struct {
	t      *testing.T
	client string
	topic  string
	ledger *cluster.Ledger
	acked  [partitions]atomic.Int64
	errs   atomic.Int64
	seq    atomic.Int64

	mu      sync.Mutex
	lastErr error
}

func newFaultRun(t *testing.T, client, topic string) *faultRun {
	return &faultRun{t: t, client: client, topic: topic, ledger: cluster.NewLedger()}
}

// nextValue returns a new unique value, already marked attempted in the
// ledger: call it just before sending the value.
func (r *faultRun) nextValue() []byte {
	v := fmt.Appendf(nil, "%s-%08d", r.client, r.seq.Add(1))
	r.ledger.Attempted(v)
	return v
}

// ack records that value was acknowledged at partition and offset.
func (r *faultRun) ack(partition int32, offset int64, value []byte) {
	r.ledger.Acked(r.topic, partition, offset, value)
	if partition >= 0 && partition < partitions {
		r.acked[partition].Add(1)
	}
}

// fail records a produce error; the values concerned stay attempted.
func (r *faultRun) fail(err error) {
	r.errs.Add(1)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

func (r *faultRun) ackedNow() [partitions]int64 {
	var out [partitions]int64
	for p := range out {
		out[p] = r.acked[p].Load()
	}
	return out
}

// waitAcked waits until every partition has n more acknowledged records
// than in since.
func (r *faultRun) waitAcked(since [partitions]int64, n int64, timeout time.Duration, what string) {
	r.t.Helper()
	eventually(r.t, timeout, what, func() error {
		now := r.ackedNow()
		for p := range now {
			if now[p] < since[p]+n {
				r.mu.Lock()
				last := r.lastErr
				r.mu.Unlock()
				return fmt.Errorf("partition %d has %d of %d acknowledgements (%d produce errors, last: %v)",
					p, now[p]-since[p], n, r.errs.Load(), last)
			}
		}
		return nil
	})
}

// faultClient is what killLeaderDuringProduce needs from the client under
// test.
type faultClient struct {
	// leader returns the node leading partition p of the topic, from the
	// client's own metadata.
	leader func(p int32) int32
	// produce sends new values (r.nextValue) with acks=all until ctx is
	// done, recording each outcome with r.ack or r.fail, and returns once
	// nothing it sent is outstanding.
	produce func(ctx context.Context, r *faultRun)
	// read reads every partition of the topic back from its start to the
	// end offsets listed when it is called.
	read func(ctx context.Context) map[cluster.TopicPartition][]cluster.Record
}

// Acknowledgements each partition must gather in each phase of
// killLeaderDuringProduce.
const phaseAcks = 300

// killLeaderDuringProduce is the fault test of one client on topic (created
// with partitions partitions, replication factor 3): while the client
// produces with acks=all, the leader of partition 0 is killed with SIGKILL;
// every partition must then gather more acknowledgements from the client;
// the node is restarted and catches up; the client reads everything back,
// and every acknowledged record must be there exactly once at its offset.
// franz-go reads the topic too, and must read the same.
func killLeaderDuringProduce(t *testing.T, c *cluster.Cluster, client, topic string, fc faultClient) {
	r := newFaultRun(t, client, topic)
	fcl, adm := admin(t, c)
	waitFullISR(t, adm, topic, readyTimeout)

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fc.produce(ctx, r)
	}()
	stopped := false
	stopProducer := func() {
		if !stopped {
			stopped = true
			stop()
			<-done
		}
	}
	defer stopProducer()

	r.waitAcked([partitions]int64{}, phaseAcks, 30*time.Second, "acknowledgements before the fault")
	victim := c.Node(fc.leader(0))
	before := r.ackedNow()
	killed := time.Now()
	victim.Kill()
	t.Logf("killed node %d, the leader of partition 0, after %v acknowledgements", victim.ID(), before)
	r.waitAcked(before, phaseAcks, 30*time.Second, "acknowledgements after the leader was killed")
	t.Logf("every partition had %d more acknowledgements %v after the kill", phaseAcks, time.Since(killed).Round(time.Millisecond))

	victim.Restart()
	victim.WaitReady(readyTimeout)
	r.waitAcked(r.ackedNow(), phaseAcks, 30*time.Second, "acknowledgements after the restart")
	stopProducer()
	waitFullISR(t, adm, topic, readyTimeout)

	rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := fc.read(rctx)
	r.ledger.CheckAgainst(t, got)
	if franz := cluster.ReadAll(rctx, t, fcl, topic, partitions); !sameRecords(got, franz) {
		t.Errorf("%s read back %s; franz-go read %s", client, summarize(got), summarize(franz))
	}
	t.Logf("%d records acknowledged (per partition %v), %d produce errors; %s read back %s, every acknowledged record once at its offset",
		r.ledger.NumAcked(), r.ackedNow(), r.errs.Load(), client, summarize(got))
}

func sameRecords(a, b map[cluster.TopicPartition][]cluster.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for tp, ra := range a {
		rb, ok := b[tp]
		if !ok || !slices.EqualFunc(ra, rb, func(x, y cluster.Record) bool {
			return x.Offset == y.Offset && string(x.Value) == string(y.Value)
		}) {
			return false
		}
	}
	return true
}

// summarize describes records read back: count and offset range per
// partition.
func summarize(recs map[cluster.TopicPartition][]cluster.Record) string {
	tps := make([]cluster.TopicPartition, 0, len(recs))
	for tp := range recs {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b cluster.TopicPartition) int { return int(a.Partition - b.Partition) })
	var parts []string
	for _, tp := range tps {
		rs := recs[tp]
		if len(rs) == 0 {
			parts = append(parts, fmt.Sprintf("%d: none", tp.Partition))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d: %d records in [%d, %d]", tp.Partition, len(rs), rs[0].Offset, rs[len(rs)-1].Offset))
	}
	return strings.Join(parts, "; ")
}
