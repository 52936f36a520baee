package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/test/cluster"
)

// partitionState returns the leader, leader epoch and ISR of topic's
// partition p as the node at addr sees it (a Metadata request of its own).
func partitionState(ctx context.Context, c *testCluster, t *testing.T, addr, topic string, p int32) (int32, int32, []int32, error) {
	cl := c.client(t, kgo.SeedBrokers(addr))
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, -1, nil, err
	}
	for _, mt := range resp.Topics {
		for _, mp := range mt.Partitions {
			if mp.Partition == p {
				return mp.Leader, mp.LeaderEpoch, mp.ISR, nil
			}
		}
	}
	return -1, -1, nil, fmt.Errorf("no partition %d", p)
}

// adminCluster starts three nodes with settings on a network of its own
// (from seed) for a test of admin and replication behaviour, and returns
// them with a minute's context.
func adminCluster(t *testing.T, seed uint64, settings map[string]string) (*testCluster, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a cluster for seconds")
	}
	c := startCluster(t, 3, newNetwork(seed), settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}

// TestIsolatedLeader cuts the leader of a partition off from the other
// nodes while clients can still reach it. It keeps believing it leads, but
// acknowledges nothing with acks=all (its followers no longer fetch from
// it); the other two elect a new leader and take writes; once the network
// heals, the old leader drops what it appended alone and follows.
func TestIsolatedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster for seconds")
	}
	nw := newNetwork(1)
	c := startCluster(t, 3, nw, settings)
	const topic = "isolated"
	admin := c.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	ledger := cluster.NewLedger()
	produce := func(cl *kgo.Client, v string) error {
		r := &kgo.Record{Topic: topic, Value: []byte(v)}
		ledger.Attempted(r.Value)
		err := cl.ProduceSync(ctx, r).FirstErr()
		ledger.Promise(r, err)
		return err
	}
	for i := range 100 {
		if err := produce(admin, fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var oldLeader int32
	cluster.Eventually(t, 10*time.Second, "a leader with a full ISR", func() bool {
		l, _, isr, err := partitionState(ctx, c, t, c.seeds[0], topic, 0)
		oldLeader = l
		return err == nil && l > 0 && len(isr) == 3
	})
	old := c.nodes[oldLeader-1]
	nw.isolate(oldLeader, c.ids(), true)

	// A produce sent straight to the old leader is not acknowledged: it
	// appends, but no follower fetches from it any more.
	ledger.Attempted([]byte("to-the-isolated-leader"))
	oldConn := c.client(t, kgo.SeedBrokers(old.opts.Listen))
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 1500
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = oneRecordBatch(t, "to-the-isolated-leader")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := oldConn.Broker(int(oldLeader)).Request(ctx, req)
	if err != nil {
		t.Fatalf("produce to the isolated leader: %v", err)
	}
	code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	if code == 0 {
		t.Fatal("the isolated leader acknowledged an acks=all produce")
	}
	t.Logf("the isolated leader answered %v", kerr.ErrorForCode(code))
	// The majority elects a new leader and takes writes.
	var others []string
	for _, nd := range c.nodes {
		if nd != old {
			others = append(others, nd.opts.Listen)
		}
	}
	cluster.Eventually(t, 20*time.Second, "a new leader on the majority side", func() bool {
		l, _, _, err := partitionState(ctx, c, t, others[0], topic, 0)
		return err == nil && l > 0 && l != oldLeader
	})
	majority := c.client(t, kgo.SeedBrokers(others...))
	for i := range 100 {
		if err := produce(majority, fmt.Sprintf("during-%d", i)); err != nil {
			t.Fatalf("produce on the majority side: %v", err)
		}
	}
	nw.isolate(oldLeader, c.ids(), false)
	cluster.Eventually(t, 30*time.Second, "the old leader back in the ISR", func() bool {
		_, _, isr, err := partitionState(ctx, c, t, others[0], topic, 0)
		return err == nil && len(isr) == 3
	})
	for i := range 100 {
		if err := produce(admin, fmt.Sprintf("after-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := cluster.ReadAll(ctx, t, admin, topic, 1)
	ledger.CheckAgainst(t, recs)
	for _, r := range recs[cluster.TopicPartition{Topic: topic, Partition: 0}] {
		if string(r.Value) == "to-the-isolated-leader" {
			t.Fatalf("the record only the isolated leader appended survived at offset %d", r.Offset)
		}
	}
}

// oneRecordBatch is a record batch of one record with value v.
func oneRecordBatch(t *testing.T, v string) []byte {
	t.Helper()
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]recordbatch.Record{{Value: []byte(v)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdminAcrossNodes: topics created, grown and deleted on one node take
// effect on every node: replicas are opened and removed everywhere.
func TestAdminAcrossNodes(t *testing.T) {
	c, ctx := adminCluster(t, 2, settings)
	// Each admin request goes to another node.
	admins := make([]*kadm.Client, len(c.nodes))
	for i, nd := range c.nodes {
		admins[i] = kadm.NewClient(c.client(t, kgo.SeedBrokers(nd.opts.Listen)))
	}
	const topic = "admin"
	if res, err := admins[1].CreateTopic(ctx, 2, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	// kadm asks node 3 for the partition count first: it must have
	// applied the topic (metadata reaches each node on its own time).
	cluster.Eventually(t, 10*time.Second, "node 3 knows the topic", func() bool {
		md, err := admins[2].Metadata(ctx, topic)
		return err == nil && len(md.Topics[topic].Partitions) == 2
	})
	if res, err := admins[2].CreatePartitions(ctx, 2, topic); err != nil || res[topic].Err != nil {
		t.Fatalf("create partitions: %v %v", err, res[topic].Err)
	}
	dirs := func(n int) func() bool {
		return func() bool {
			for _, nd := range c.nodes {
				for p := range n {
					if _, err := os.Stat(filepath.Join(nd.opts.DataDir, fmt.Sprintf("%s-%d", topic, p))); err != nil {
						return false
					}
				}
			}
			return true
		}
	}
	cluster.Eventually(t, 10*time.Second, "4 replicas of the topic on every node", dirs(4))
	// Every partition takes writes and is fully replicated.
	cl := c.client(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for p := range int32(4) {
		wg.Go(func() {
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")}).FirstErr()
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if _, err := admins[0].DeleteTopic(ctx, topic); err != nil {
		t.Fatalf("delete: %v", err)
	}
	cluster.Eventually(t, 10*time.Second, "the replicas removed from every node", func() bool {
		for _, nd := range c.nodes {
			entries, err := os.ReadDir(nd.opts.DataDir)
			if err != nil {
				return false
			}
			for _, e := range entries {
				if len(e.Name()) > len(topic) && e.Name()[:len(topic)+1] == topic+"-" {
					return false
				}
			}
		}
		return true
	})
	res, err := admins[2].CreateTopic(ctx, 1, 4, nil, "too-wide")
	if err == nil {
		err = res.Err
	}
	if !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("RF 4 on 3 brokers: got %v", err)
	}
}

// TestReplicationAdmin: explicit replica assignments are kept, producer ids
// handed out by different nodes never collide, and an acks=all produce to
// a partition whose ISR fell below min.insync.replicas is refused with
// NOT_ENOUGH_REPLICAS while acks=1 still succeeds.
func TestReplicationAdmin(t *testing.T) {
	c, ctx := adminCluster(t, 3, settings)
	cl := c.client(t)
	adm := kadm.NewClient(cl)

	// Explicit assignment: partition 0 on 3 and 1, partition 1 on 2 and 3.
	cluster.CreateAssigned(ctx, t, cl, "assigned", [][]int32{{3, 1}, {2, 3}})
	cluster.Eventually(t, 10*time.Second, "the assignment in the metadata", func() bool {
		md, err := adm.Metadata(ctx, "assigned")
		if err != nil {
			return false
		}
		ps := md.Topics["assigned"].Partitions
		return len(ps) == 2 && slices.Equal(ps[0].Replicas, []int32{3, 1}) && ps[0].Leader == 3 &&
			slices.Equal(ps[1].Replicas, []int32{2, 3}) && ps[1].Leader == 2
	})

	// Producer ids from every node are distinct.
	seen := map[int64]int32{}
	for _, nd := range c.nodes {
		direct := c.client(t, kgo.SeedBrokers(nd.opts.Listen))
		for range 3 {
			r, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, direct)
			if err != nil || r.ErrorCode != 0 {
				t.Fatalf("InitProducerId on node %d: %v %v", nd.id, err, r)
			}
			if other, dup := seen[r.ProducerID]; dup {
				t.Fatalf("producer id %d handed out by node %d and node %d", r.ProducerID, other, nd.id)
			}
			seen[r.ProducerID] = nd.id
		}
	}

	// Partition 1 on 2 and 3 with min.insync.replicas=2: once 3 is gone,
	// acks=all is refused and acks=1 is not.
	var three *node
	for _, nd := range c.nodes {
		if nd.id == 3 {
			three = nd
		}
	}
	three.stop(t)
	cluster.Eventually(t, 20*time.Second, "node 3 out of the ISR", func() bool {
		_, _, isr, err := partitionState(ctx, c, t, c.seeds[1], "assigned", 1)
		return err == nil && slices.Equal(isr, []int32{2})
	})
	all := c.client(t, kgo.SeedBrokers(c.seeds[1]), kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	err := all.ProduceSync(ctx, &kgo.Record{Topic: "assigned", Partition: 1, Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with one in-sync replica of 2 required: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	one := c.client(t, kgo.SeedBrokers(c.seeds[1]), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Topic: "assigned", Partition: 1, Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	three.start(t)
}

// TestFollowerJoinsDuringLongPoll: a partition a follower starts following
// while its fetch to that leader waits out a long poll (here a minute) is
// fetched at once, not after the poll: acks=all to a new topic on the same
// leader is answered well within the poll.
func TestFollowerJoinsDuringLongPoll(t *testing.T) {
	long := maps.Clone(settings)
	long["replica.fetch.wait.max.ms"] = "60000"
	long["replica.lag.time.max.ms"] = "120000"
	c, ctx := adminCluster(t, 4, long)
	cl := c.client(t)
	produce := func(topic string) {
		done := make(chan error, 1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}, func(_ *kgo.Record, err error) { done <- err })
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("acks=all to %s: %v", topic, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("acks=all to %s: no answer in 20s", topic)
		}
	}
	cluster.CreateAssigned(ctx, t, cl, "first", [][]int32{{1, 2, 3}})
	produce("first") // the followers of node 1 now wait in a long poll
	cluster.CreateAssigned(ctx, t, cl, "second", [][]int32{{1, 2, 3}})
	produce("second")
}
