// Package fault tests a Strata cluster of real processes on 127.0.0.1
// under faults (kill -9, SIGSTOP, restarts with divergent logs): each test
// produces with acks=all through franz-go while it inflicts the fault, and
// ends by reading every partition back and checking that every
// acknowledged record is there exactly once, in order, at its offset.
package fault

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
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
	"go.uber.org/goleak"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/test/cluster"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cluster.WithCleanup(m))
}

// clusterSettings are the broker settings of the fault tests' clusters:
// RF 3 with acks=all needing 2 in-sync replicas, and a short session so a
// dead node is fenced fast.
var clusterSettings = map[string]string{
	"default.replication.factor":       "3",
	"min.insync.replicas":              "2",
	"offsets.topic.replication.factor": "3",
	"offsets.topic.num.partitions":     "3",
	"group.initial.rebalance.delay.ms": "0",
}

// startCluster starts a 3-node cluster and creates topic with partitions
// partitions, replication factor 3.
func startCluster(t *testing.T, topic string, partitions int32) (*cluster.Cluster, *kgo.Client) {
	return startClusterWith(t, topic, partitions, nil)
}

// startClusterWith is startCluster with settings added to clusterSettings.
func startClusterWith(t *testing.T, topic string, partitions int32, settings map[string]string) (*cluster.Cluster, *kgo.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	all := maps.Clone(clusterSettings)
	maps.Copy(all, settings)
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: all})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.CreateTopic(ctx, partitions, 3, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return c, cl
}

// quickClient is a client of c that gives up on a request after a second:
// a paused broker holds its connections open and answers nothing.
func quickClient(c *cluster.Cluster, t *testing.T) *kgo.Client {
	return c.Client(t, kgo.ProduceRequestTimeout(time.Second), kgo.RequestTimeoutOverhead(time.Second))
}

// producer produces unique values to topic with acks=all from its own
// goroutine until stop, recording every outcome in a ledger.
type producer struct {
	ledger *cluster.Ledger
	acked  atomic.Int64
	errs   atomic.Int64
	ackc   chan struct{} // signalled after each acknowledgement
	cancel context.CancelFunc
	done   chan struct{}
}

func startProducer(t *testing.T, cl *kgo.Client, topic string) *producer {
	return startProducerInto(t, cl, topic, cluster.NewLedger(), "v")
}

// startProducerInto is startProducer with a ledger and a value prefix of
// the caller's, to go on after an earlier producer.
func startProducerInto(t *testing.T, cl *kgo.Client, topic string, ledger *cluster.Ledger, prefix string) *producer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &producer{ledger: ledger, ackc: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			v := []byte(fmt.Sprintf("%s-%08d", prefix, i))
			p.ledger.Attempted(v)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: v}, func(r *kgo.Record, err error) {
				defer wg.Done()
				<-sem
				p.ledger.Promise(r, err)
				if err != nil {
					p.errs.Add(1)
				} else {
					p.acked.Add(1)
					select {
					case p.ackc <- struct{}{}:
					default:
					}
				}
			})
		}
		wg.Wait()
	}()
	return p
}

func (p *producer) stop() {
	p.cancel()
	<-p.done
}

// waitAcked waits until n more records than now are acknowledged.
func (p *producer) waitAcked(t *testing.T, n int64, timeout time.Duration, what string) {
	t.Helper()
	want := p.acked.Load() + n
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for p.acked.Load() < want {
		select {
		case <-p.ackc:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s: %d of %d acknowledged, %d produce errors", timeout, what, p.acked.Load(), want, p.errs.Load())
		}
	}
}

// leaderOf returns the leader of topic's partition p, as node id, or -1
// when the metadata request fails (it may go to a node that is down).
func leaderOf(t *testing.T, cl *kgo.Client, topic string, p int32) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Logf("metadata: %v", err)
		return -1
	}
	return md.Topics[topic].Partitions[p].Leader
}

// check reads every partition back and checks the ledger against it.
func check(t *testing.T, c *cluster.Cluster, cl *kgo.Client, p *producer, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := cluster.ReadAll(ctx, t, cl, topic, partitions)
	p.ledger.CheckAgainst(t, recs)
	t.Logf("%d records acknowledged, %d produce errors; all present once at their offsets", p.ledger.NumAcked(), p.errs.Load())
}

// killLeaderAndCheck kills -9 the leader of topic's partition 0 while p
// produces through cl, waits for acknowledgements without it and after
// its restart, then stops p and checks every acknowledged record at its
// offset.
func killLeaderAndCheck(t *testing.T, c *cluster.Cluster, cl *kgo.Client, p *producer, topic string, parts int32) {
	t.Helper()
	victim := c.Node(leaderOfNow(t, cl, topic, 0))
	victim.Kill()
	p.waitAcked(t, 1000, 30*time.Second, "acks with a leader dead")
	victim.Restart()
	victim.WaitReady(30 * time.Second)
	p.waitAcked(t, 1000, 30*time.Second, "acks after the restart")
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// leaderUnderLoad starts a producer to topic and, once it has 2000 records
// acknowledged, returns it with the node leading partition 0.
func leaderUnderLoad(t *testing.T, c *cluster.Cluster, cl *kgo.Client, topic string) (*producer, *cluster.Node) {
	t.Helper()
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 2000, 30*time.Second, "acks before the fault")
	return p, c.Node(leaderOfNow(t, cl, topic, 0))
}

// TestKillLeaderDuringProduce kills -9 the leader of a partition while
// producers write with acks=all, waits for writes to go on without it,
// restarts it, and checks that nothing acknowledged was lost.
func TestKillLeaderDuringProduce(t *testing.T) {
	const topic, parts = "kill-leader", 3
	c, cl := startCluster(t, topic, parts)
	p, victim := leaderUnderLoad(t, c, cl, topic)
	victim.Kill()
	p.waitAcked(t, 2000, 30*time.Second, "acks with the leader dead")
	// The survivors' metrics show the fenced broker, the partitions
	// without it in their ISR, and the elections that moved its leaders.
	cluster.Eventually(t, 30*time.Second, "metrics of the fault", func() bool {
		m := sumMetrics(t, c)
		return m["strata_fenced_brokers"] >= 2 && m["strata_under_replicated_partitions"] >= parts &&
			m["strata_leader_elections_total"] >= 1 && m["strata_isr_shrinks_total"] == 0
	})
	victim.Restart()
	victim.WaitReady(30 * time.Second)
	p.waitAcked(t, 2000, 30*time.Second, "acks after the restart")
	cluster.Eventually(t, 30*time.Second, "metrics of the recovery", func() bool {
		m := sumMetrics(t, c)
		return m["strata_fenced_brokers"] == 0 && m["strata_under_replicated_partitions"] == 0 && m["strata_isr_expands_total"] >= 1
	})
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// sumMetrics scrapes /metrics of every running node and sums each
// unlabelled strata_ metric over them.
func sumMetrics(t *testing.T, c *cluster.Cluster) map[string]float64 {
	t.Helper()
	sum := map[string]float64{}
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		resp, err := http.Get("http://" + n.AdminAddr() + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			name, val, ok := strings.Cut(line, " ")
			if !ok || !strings.HasPrefix(name, "strata_") || strings.Contains(name, "{") {
				continue
			}
			if v, err := strconv.ParseFloat(val, 64); err == nil {
				sum[name] += v
			}
		}
	}
	return sum
}

// TestPausedLeaderIsFenced stops (SIGSTOP) the leader of a partition for
// longer than broker.session.timeout.ms while producers write with
// acks=all, resumes it, and checks that as a zombie it acknowledges
// nothing: a produce sent straight to it the moment it resumes fails.
func TestPausedLeaderIsFenced(t *testing.T) {
	const topic, parts = "pause-leader", 3
	c, _ := startCluster(t, topic, parts)
	cl := quickClient(c, t)
	p, victim := leaderUnderLoad(t, c, cl, topic)
	victim.Pause()
	p.waitAcked(t, 2000, 30*time.Second, "acks with the leader paused")
	cluster.Eventually(t, 30*time.Second, "a new leader for partition 0", func() bool {
		l := leaderOf(t, cl, topic, 0)
		return l > 0 && l != victim.ID()
	})
	victim.Resume()
	zombie := []byte("from-the-zombie")
	p.ledger.Attempted(zombie)
	if code := rawProduce(t, victim.KafkaAddr(), topic, 0, zombie); code == 0 {
		t.Fatal("the resumed old leader acknowledged an acks=all produce")
	} else {
		t.Logf("the resumed old leader answered %v", kerr.ErrorForCode(code))
	}
	victim.WaitReady(30 * time.Second)
	p.waitAcked(t, 2000, 30*time.Second, "acks after the resume")
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// TestDivergentTailTruncated makes the leader of a partition append
// records its followers do not get (acks=1 while they are stopped; one
// may still reach them in a fetch answered as they stopped), kills it, lets
// a new leader take writes at the same offsets, and restarts the old
// leader: it must truncate its divergent tail and end up with the new
// leader's records, which the test checks by making it leader again and
// reading every acknowledged record at its offset.
func TestDivergentTailTruncated(t *testing.T) {
	const topic, parts = "divergent", 1
	c, cl := startCluster(t, topic, parts)
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 1000, 30*time.Second, "acks before the fault")
	p.stop()

	old := c.Node(leaderOfNow(t, cl, topic, 0))
	var followers []*cluster.Node
	for _, n := range c.Nodes() {
		if n != old {
			followers = append(followers, n)
		}
	}
	for _, f := range followers {
		f.Pause()
	}
	// Records only the old leader gets: acks=1 straight to it.
	var tail [][]byte
	for i := range 20 {
		v := []byte(fmt.Sprintf("tail-%d", i))
		tail = append(tail, v)
		p.ledger.Attempted(v)
		if code := rawProduceAcks(t, old.KafkaAddr(), topic, 0, v, 1); code != 0 {
			t.Fatalf("acks=1 produce to the leader: %v", kerr.ErrorForCode(code))
		}
	}
	old.Kill()
	for _, f := range followers {
		f.Resume()
	}
	cluster.Eventually(t, 30*time.Second, "a new leader", func() bool {
		l := leaderOf(t, cl, topic, 0)
		return l != old.ID() && l > 0
	})
	p2 := startProducerInto(t, cl, topic, p.ledger, "w")
	p2.waitAcked(t, 500, 30*time.Second, "acks on the new leader")
	old.Restart()
	old.WaitReady(30 * time.Second)
	p2.waitAcked(t, 500, 30*time.Second, "acks with the old leader back")
	p2.stop()
	cluster.Eventually(t, 30*time.Second, "the old leader back in the ISR", func() bool { return inISR(t, cl, topic, 0, old.ID()) })
	// Make the old leader lead again: stop the others one by one.
	for _, n := range followers {
		if leaderOf(t, cl, topic, 0) == old.ID() {
			break
		}
		n.Kill()
		cluster.Eventually(t, 30*time.Second, "a leader other than the killed node", func() bool {
			l := leaderOf(t, cl, topic, 0)
			return l > 0 && l != n.ID()
		})
		n.Restart()
		n.WaitReady(30 * time.Second)
	}
	if l := leaderOf(t, cl, topic, 0); l != old.ID() {
		t.Skipf("could not make node %d lead again (leader %d)", old.ID(), l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := cluster.ReadAll(ctx, t, cl, topic, parts)
	p.ledger.CheckAgainst(t, recs)
	kept := 0
	for _, r := range recs[cluster.TopicPartition{Topic: topic, Partition: 0}] {
		if slices.ContainsFunc(tail, func(v []byte) bool { return string(v) == string(r.Value) }) {
			kept++
		}
	}
	t.Logf("%d of the %d records of the old leader's tail reached a follower before it died", kept, len(tail))
}

// leaderOfNow is leaderOf on a healthy cluster, waiting out a leaderless
// moment.
func leaderOfNow(t *testing.T, cl *kgo.Client, topic string, p int32) int32 {
	t.Helper()
	var l int32
	cluster.Eventually(t, 30*time.Second, "a leader", func() bool { l = leaderOf(t, cl, topic, p); return l > 0 })
	return l
}

// inISR reports whether node id is in the ISR of topic's partition p
// (false when the metadata request fails).
func inISR(t *testing.T, cl *kgo.Client, topic string, p, id int32) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Logf("metadata: %v", err)
		return false
	}
	return slices.Contains(md.Topics[topic].Partitions[p].ISR, id)
}

// rawProduce sends one record with acks=all to the broker at addr, on its
// own connection (no client metadata, no retries), and returns the error
// code of the answer for the partition, or -1 when there was none.
func rawProduce(t *testing.T, addr, topic string, partition int32, value []byte) int16 {
	return rawProduceAcks(t, addr, topic, partition, value, -1)
}

func rawProduceAcks(t *testing.T, addr, topic string, partition int32, value []byte, acks int16) int16 {
	t.Helper()
	batch, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]recordbatch.Record{{Value: value}})
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if err := roundTrip(addr, req, resp, 15*time.Second); err != nil {
		t.Logf("produce to %s: %v", addr, err)
		return -1
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// roundTrip sends req on a new connection to addr and reads its response.
func roundTrip(addr string, req kmsg.Request, resp kmsg.Response, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("fault-test")).AppendRequest(nil, req, 1)); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	resp.SetVersion(req.GetVersion())
	body = body[4:] // correlation id
	if resp.IsFlexible() {
		body = body[1:] // no tagged fields in the header
	}
	return resp.ReadFrom(body)
}

// TestRollingRestart restarts every node in turn (SIGTERM, then start
// again) under acks=all load, waiting each time until the partitions are
// fully replicated again. Each stop is a controlled shutdown: by the time
// the process has exited the controller has moved its leaderships and
// taken it out of every ISR, long before its session (5 s here) would
// run out, and the producer sees no error at all. A consumer group member
// reading along keeps its assignment (assigned at most twice) and reads
// every acknowledged record.
func TestRollingRestart(t *testing.T) {
	const topic, parts = "rolling", 3
	const session = 5 * time.Second
	c, cl := startClusterWith(t, topic, parts, map[string]string{"broker.session.timeout.ms": strconv.Itoa(int(session.Milliseconds()))})
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 1000, 30*time.Second, "acks before the restarts")
	// A group member reads along; it should keep its assignment.
	var assigned atomic.Int64
	var consumedMu sync.Mutex
	consumed := map[string]bool{}
	member := c.Client(t, kgo.ConsumerGroup("rolling"), kgo.ConsumeTopics(topic),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { assigned.Add(1) }))
	mctx, stopMember := context.WithCancel(context.Background())
	var memberDone sync.WaitGroup
	memberDone.Go(func() {
		for mctx.Err() == nil {
			member.PollFetches(mctx).EachRecord(func(r *kgo.Record) {
				consumedMu.Lock()
				consumed[string(r.Value)] = true
				consumedMu.Unlock()
			})
		}
	})
	for _, n := range c.Nodes() {
		stopped := time.Now()
		n.Stop()
		took := time.Since(stopped)
		cluster.Eventually(t, session-took-time.Second, fmt.Sprintf("node %d out of every leadership and ISR before its session ends", n.ID()), func() bool {
			for i := range int32(parts) {
				if leaderOf(t, cl, topic, i) == n.ID() || inISR(t, cl, topic, i, n.ID()) {
					return false
				}
			}
			return true
		})
		t.Logf("node %d stopped in %v", n.ID(), took.Round(time.Millisecond))
		p.waitAcked(t, 500, 30*time.Second, fmt.Sprintf("acks with node %d stopped", n.ID()))
		n.Restart()
		n.WaitReady(30 * time.Second)
		cluster.Eventually(t, 30*time.Second, fmt.Sprintf("node %d back in every ISR", n.ID()), func() bool {
			for i := range int32(parts) {
				if !inISR(t, cl, topic, i, n.ID()) {
					return false
				}
			}
			return true
		})
	}
	p.waitAcked(t, 500, 30*time.Second, "acks after the restarts")
	p.stop()
	check(t, c, cl, p, topic, parts)
	if n := p.errs.Load(); n != 0 {
		t.Errorf("the application saw %d produce errors; a controlled shutdown should cost it none", n)
	}
	acked := p.ledger.AckedValues()
	cluster.Eventually(t, 30*time.Second, "the group member consumed every acknowledged record", func() bool {
		consumedMu.Lock()
		defer consumedMu.Unlock()
		for _, v := range acked {
			if !consumed[v] {
				return false
			}
		}
		return true
	})
	stopMember()
	memberDone.Wait()
	if n := assigned.Load(); n > 2 {
		t.Errorf("the group member was assigned its partitions %d times through the restarts, want at most 2", n)
	}
	t.Logf("the group member was assigned %d time(s)", assigned.Load())
}

// TestGroupCoordinatorFailover kills the node coordinating a consumer
// group: the group moves to the new leader of its __consumer_offsets
// partition, its committed offsets are there, and a member resumes from
// them.
func TestGroupCoordinatorFailover(t *testing.T) {
	const topic, parts, group, total = "group-failover", 3, "g", 3000
	c, cl := startCluster(t, topic, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range total {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("r-%05d", i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A member consumes about half and commits what it consumed.
	member := c.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	for len(seen) < total/2 {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, committed.Error())
	}
	member.Close()

	coord := coordinatorOf(t, adm, group)
	t.Logf("killing node %d, the coordinator of group %s", coord, group)
	c.Node(coord).Kill()
	cluster.Eventually(t, 30*time.Second, "a new coordinator", func() bool {
		id, err := findCoordinator(adm, group)
		return err == nil && id != coord
	})
	// A client that never talked to the old coordinator (franz-go keeps
	// the coordinator it found until a request to it gets an answer).
	fresh := kadm.NewClient(c.Client(t))
	var after kadm.OffsetResponses
	cluster.Eventually(t, 30*time.Second, "the committed offsets from the new coordinator", func() bool {
		after, err = fresh.FetchOffsets(ctx, group)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			t.Logf("fetch offsets: %v", err)
		}
		return err == nil
	})
	committed.Each(func(o kadm.OffsetResponse) {
		got, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || got.At != o.At {
			t.Errorf("%s/%d: committed %d before the failover, %v after", o.Topic, o.Partition, o.At, got.At)
		}
	})

	// A new member resumes from the committed offsets: it reads the rest,
	// and nothing committed again.
	resumed := c.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	again := 0
	for len(seen) < total {
		fs := resumed.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after the failover: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] > 0 {
				again++
			}
			seen[string(r.Value)]++
		})
	}
	if again > 0 {
		t.Fatalf("%d records committed before the failover were consumed again", again)
	}
}

// coordinatorOf returns the node coordinating group.
func coordinatorOf(t *testing.T, adm *kadm.Client, group string) int32 {
	t.Helper()
	id, err := findCoordinator(adm, group)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func findCoordinator(adm *kadm.Client, group string) (int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := adm.FindGroupCoordinators(ctx, group)
	r, ok := res[group]
	if !ok {
		return -1, fmt.Errorf("no answer for %s", group)
	}
	return r.NodeID, r.Err
}

// TestPausedControllerDecidesNothing stops (SIGSTOP) the node that leads
// the metadata quorum for longer than the session and election timeouts.
// The others elect a new controller, which fences the paused node. When it
// resumes, the old controller holds heartbeats from before its pause, but
// none of the decisions it might make on them may apply: the partitions the
// healthy nodes lead keep their leaders and epochs.
func TestPausedControllerDecidesNothing(t *testing.T) {
	const topic, parts = "paused-controller", 6
	c, _ := startCluster(t, topic, parts)
	cl := quickClient(c, t)
	var ctrl int32
	cluster.Eventually(t, 30*time.Second, "a controller", func() bool {
		ctrl = int32(sumMetrics(t, c)["strata_raft_leader"] / 3)
		return ctrl > 0 && float64(ctrl)*3 == sumMetrics(t, c)["strata_raft_leader"]
	})
	before := partitionLeaders(t, cl, topic)
	victim := c.Node(ctrl)
	victim.Pause()
	// Writes go on while it is paused; they also make the pause last a
	// few seconds, so the heartbeats it holds are well past the session.
	p := startProducer(t, cl, topic)
	pausedAt := time.Now()
	p.waitAcked(t, 10000, 30*time.Second, "acks while the controller is paused")
	t.Logf("10000 acks with the controller paused took %v", time.Since(pausedAt).Round(time.Millisecond))
	cluster.Eventually(t, 30*time.Second, "a new controller, and the paused node out of every ISR", func() bool {
		if controllerOf(t, c, ctrl) == ctrl {
			return false
		}
		for i := range int32(parts) {
			if inISR(t, cl, topic, i, ctrl) {
				return false
			}
		}
		return true
	})
	victim.Resume()
	victim.WaitReady(30 * time.Second)
	cluster.Eventually(t, 30*time.Second, "the old controller back in every ISR", func() bool {
		for i := range int32(parts) {
			if !inISR(t, cl, topic, i, ctrl) {
				return false
			}
		}
		return true
	})
	after := partitionLeaders(t, cl, topic)
	for i, b := range before {
		if b[0] == ctrl {
			continue
		}
		if a := after[i]; a != b {
			t.Errorf("partition %d led by healthy node %d at epoch %d before, by %d at epoch %d after", i, b[0], b[1], a[0], a[1])
		}
	}
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// controllerOf returns the metadata quorum leader as a running node other
// than except sees it, or except when none answers.
func controllerOf(t *testing.T, c *cluster.Cluster, except int32) int32 {
	t.Helper()
	for _, n := range c.Nodes() {
		if n.ID() == except || !n.Running() {
			continue
		}
		if v, ok := n.Metric("strata_raft_leader"); ok && v > 0 {
			return int32(v)
		}
	}
	return except
}

// partitionLeaders returns each partition's leader and leader epoch.
func partitionLeaders(t *testing.T, cl *kgo.Client, topic string) map[int32][2]int32 {
	t.Helper()
	var out map[int32][2]int32
	cluster.Eventually(t, 30*time.Second, "metadata with every leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		md, err := kadm.NewClient(cl).Metadata(ctx, topic)
		if err != nil {
			return false
		}
		out = map[int32][2]int32{}
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader < 0 {
				return false
			}
			out[p.Partition] = [2]int32{p.Leader, p.LeaderEpoch}
		}
		return true
	})
	return out
}
