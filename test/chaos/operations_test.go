package chaos

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stratalog/strata/internal/cli"
	"github.com/stratalog/strata/test/cluster"
)

// TestLeaderHints: a Produce (v10+) sent to a node that does not lead the
// partition, or a Fetch (v16+) to one that holds no replica of it, is
// answered NOT_LEADER_OR_FOLLOWER with the current leader, its epoch and
// its address (KIP-951); older versions carry neither.
func TestLeaderHints(t *testing.T) {
	c, ctx := adminCluster(t, 30, settings)
	const topic = "hinted"
	admin := c.client(t)
	cluster.CreateAssigned(ctx, t, admin, topic, [][]int32{{1, 3}})
	var epoch int32
	cluster.Eventually(t, 20*time.Second, "node 2 knows node 1 leads", func() bool {
		l, e, _, err := partitionState(ctx, c, t, c.seeds[1], topic, 0)
		epoch = e
		return err == nil && l == 1
	})
	// node2 sends requests to node 2 with the version of key at most v.
	node2 := func(key, v int16) *kgo.Broker {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(key, v)
		return c.client(t, kgo.SeedBrokers(c.seeds[1]), kgo.MaxVersions(vs)).Broker(2)
	}

	for _, v := range []int16{9, 10, 12} {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = v, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, oneRecordBatch(t, "to-a-follower")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, node2(0, v))
		if err != nil {
			t.Fatalf("produce v%d to node 2: %v", v, err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("produce v%d to node 2: got error %v, want NOT_LEADER_OR_FOLLOWER", v, kerr.ErrorForCode(sp.ErrorCode))
		}
		wantLeader, wantEpoch, wantBrokers := int32(1), epoch, []int32{1}
		if v < 10 {
			wantLeader, wantEpoch, wantBrokers = -1, -1, nil
		}
		var brokers []int32
		for _, b := range resp.Brokers {
			brokers = append(brokers, b.NodeID)
			if b.Host+fmt.Sprintf(":%d", b.Port) != c.seeds[b.NodeID-1] {
				t.Errorf("produce v%d: broker %d at %s:%d, want %s", v, b.NodeID, b.Host, b.Port, c.seeds[b.NodeID-1])
			}
		}
		if sp.CurrentLeader.LeaderID != wantLeader || sp.CurrentLeader.LeaderEpoch != wantEpoch || !slices.Equal(brokers, wantBrokers) {
			t.Errorf("produce v%d: got current leader %d epoch %d, brokers %v; want %d epoch %d, brokers %v", v,
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch, brokers, wantLeader, wantEpoch, wantBrokers)
		}
	}

	for _, v := range []int16{15, 16} {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = v, -1, 1<<20, -1
		req.ReplicaState.ID = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, node2(3, 12))
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range md.Topics {
			if mt.Topic != nil && *mt.Topic == topic {
				rt.TopicID = mt.TopicID
			}
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, node2(1, v))
		if err != nil {
			t.Fatalf("fetch v%d from node 2: %v", v, err)
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("fetch v%d from node 2: got error %v, want NOT_LEADER_OR_FOLLOWER", v, kerr.ErrorForCode(fp.ErrorCode))
		}
		wantLeader, wantBrokers := int32(1), 1
		if v < 16 {
			wantLeader, wantBrokers = -1, 0
		}
		if fp.CurrentLeader.LeaderID != wantLeader || len(resp.Brokers) != wantBrokers {
			t.Errorf("fetch v%d: got current leader %d and %d brokers, want %d and %d", v, fp.CurrentLeader.LeaderID, len(resp.Brokers), wantLeader, wantBrokers)
		}
	}
}

// TestControlledShutdownMovesClients stops the leader of a partition
// cleanly while a producer and a consumer use it. The producer refreshes
// metadata at most once a minute here, so it can only carry on within its
// 15 s delivery timeout if the stopping node tells it where the partition
// went (KIP-951) while it shuts down: it sees no error. The consumer (with
// franz-go's usual metadata refresh, as it may have no fetch at the
// stopping node when it closes) reads on from the new leader.
func TestControlledShutdownMovesClients(t *testing.T) {
	c, ctx := adminCluster(t, 31, settings)
	const topic = "moved"
	cluster.CreateAssigned(ctx, t, c.client(t), topic, [][]int32{{1, 2, 3}})
	slow := []kgo.Opt{kgo.MetadataMinAge(time.Minute), kgo.MetadataMaxAge(time.Minute)}
	// Seeds without node 1, so that no metadata comes from the node
	// about to stop.
	seeds := kgo.SeedBrokers(c.seeds[1:]...)
	prod := c.client(t, append(slow, seeds, kgo.DefaultProduceTopic(topic))...)
	cons := c.client(t, seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))

	sp := startSyncProducer(ctx, t, prod)
	acked := &sp.acked
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var read atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := cons.PollFetches(pctx)
			cancel()
			read.Add(int64(fs.NumRecords()))
		}
	})
	waitCount(t, acked, 200, "acks before the stop")
	waitCount(t, &read, 200, "records read before the stop")
	c.nodes[0].stop(t)
	before := acked.Load()
	waitCount(t, acked, before+200, "acks after node 1 stopped")
	waitCount(t, &read, before+200, "records read after node 1 stopped")
	close(stop)
	wg.Wait()
	sp.stop()
	sp.ledger.CheckAgainst(t, cluster.ReadAll(ctx, t, c.client(t, seeds), topic, 1))
}

// syncProducer produces unique values one at a time with the client's
// acks until stopped, recording each outcome in a ledger; a produce error
// fails the test.
type syncProducer struct {
	ledger *cluster.Ledger
	acked  atomic.Int64
	done   chan struct{}
	wg     sync.WaitGroup
}

func startSyncProducer(ctx context.Context, t *testing.T, cl *kgo.Client) *syncProducer {
	p := &syncProducer{ledger: cluster.NewLedger(), done: make(chan struct{})}
	p.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-p.done:
				return
			default:
			}
			r := &kgo.Record{Value: fmt.Appendf(nil, "s-%06d", i)}
			p.ledger.Attempted(r.Value)
			err := cl.ProduceSync(ctx, r).FirstErr()
			p.ledger.Promise(r, err)
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			p.acked.Add(1)
		}
	})
	return p
}

// stop ends the producer and waits for it.
func (p *syncProducer) stop() {
	close(p.done)
	p.wg.Wait()
}

// waitCount waits until n reaches want, for at most 20 s.
func waitCount(t *testing.T, n *atomic.Int64, want int64, what string) {
	t.Helper()
	cluster.Eventually(t, 20*time.Second, what, func() bool { return n.Load() >= want })
}

// leaderOn waits until the node at addr sees broker want lead topic's
// partition p and in its ISR (a returning replica must catch up first).
func leaderOn(ctx context.Context, t *testing.T, c *testCluster, addr, topic string, p, want int32, what string) {
	t.Helper()
	cluster.Eventually(t, 20*time.Second, what, func() bool {
		l, _, isr, err := partitionState(ctx, c, t, addr, topic, p)
		return err == nil && l == want && slices.Contains(isr, want)
	})
}

// leaderMoved waits until the node at addr sees a broker other than from
// lead topic's partition p, in its ISR, and returns it: with both followers
// in the ISR that is the next replica, but a follower that fell behind on
// a loaded machine (replica.lag.time.max.ms) leaves the leadership to the
// other.
func leaderMoved(ctx context.Context, t *testing.T, c *testCluster, addr, topic string, p, from int32, what string) int32 {
	t.Helper()
	var l int32
	cluster.Eventually(t, 20*time.Second, what, func() bool {
		var isr []int32
		var err error
		l, _, isr, err = partitionState(ctx, c, t, addr, topic, p)
		return err == nil && l >= 0 && l != from && slices.Contains(isr, l)
	})
	return l
}

// TestPreferredLeaderElection stops and restarts the preferred leader of a
// partition; its leadership stays with the replica that took over until
// an ElectLeaders request gives it back. The answer covers exactly the
// partitions that needed an election, or each partition named.
func TestPreferredLeaderElection(t *testing.T) {
	c, ctx := adminCluster(t, 32, withSettings(map[string]string{"auto.leader.rebalance.enable": "false"}))
	const topic = "preferred"
	admin := c.client(t)
	cluster.CreateAssigned(ctx, t, admin, topic, [][]int32{{1, 2, 3}, {2, 3, 1}})
	c.nodes[0].stop(t)
	took := leaderMoved(ctx, t, c, c.seeds[1], topic, 0, 1, "another node leads partition 0 while node 1 is down")
	c.nodes[0].start(t)
	cluster.Eventually(t, 20*time.Second, "node 1 back in partition 0's ISR", func() bool {
		_, _, isr, err := partitionState(ctx, c, t, c.seeds[1], topic, 0)
		return err == nil && slices.Contains(isr, 1)
	})
	if l, _, _, _ := partitionState(ctx, c, t, c.seeds[1], topic, 0); l != took {
		t.Fatalf("partition 0 is led by %d before any election, want %d still", l, took)
	}

	adm := kadm.NewClient(admin)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res[topic][0]; !ok || r.Err != nil {
		t.Fatalf("all partitions: got %v for partition 0, want it elected", res[topic])
	}
	for tp, ps := range res {
		for p, r := range ps {
			if r.Err != nil {
				t.Errorf("all partitions: %s-%d: %v (partitions needing no election are left out)", tp, p, r.Err)
			}
		}
	}
	if _, listed := res[topic][1]; listed {
		t.Errorf("all partitions: partition 1 listed though its preferred replica leads it")
	}
	leaderOn(ctx, t, c, c.seeds[2], topic, 0, 1, "node 1 leads partition 0 again")

	set := kadm.TopicsSet{}
	set.Add(topic, 0, 1)
	set.Add("no-such-topic", 0)
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		topic string
		p     int32
		err   error
	}{{topic, 0, kerr.ElectionNotNeeded}, {topic, 1, kerr.ElectionNotNeeded}, {"no-such-topic", 0, kerr.UnknownTopicOrPartition}} {
		if got := res[want.topic][want.p].Err; !errors.Is(got, want.err) {
			t.Errorf("%s-%d: got %v, want %v", want.topic, want.p, got, want.err)
		}
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	if got := res[topic][0].Err; !errors.Is(got, kerr.ElectionNotNeeded) {
		t.Errorf("unclean election of a led partition: got %v, want ELECTION_NOT_NEEDED", got)
	}
}

// TestAutoLeaderRebalance: with auto.leader.rebalance.enable, a restarted
// node gets its preferred leaderships back without any request, once a
// leader.imbalance.check.interval.seconds has passed.
func TestAutoLeaderRebalance(t *testing.T) {
	c, ctx := adminCluster(t, 33, withSettings(map[string]string{"leader.imbalance.check.interval.seconds": "1"}))
	const topic = "rebalanced"
	cluster.CreateAssigned(ctx, t, c.client(t), topic, [][]int32{{1, 2, 3}})
	c.nodes[0].stop(t)
	leaderMoved(ctx, t, c, c.seeds[1], topic, 0, 1, "another node leads while node 1 is down")
	c.nodes[0].start(t)
	leaderOn(ctx, t, c, c.seeds[1], topic, 0, 1, "node 1 leads again after a rebalance")
}

// withSettings is the chaos settings with more added.
func withSettings(more map[string]string) map[string]string {
	s := maps.Clone(settings)
	maps.Copy(s, more)
	return s
}

// reassigning lists topic's partitions under reassignment as the node at
// seed sees them.
func reassigning(ctx context.Context, t *testing.T, c *testCluster, topic string, parts ...int32) kadm.ListPartitionReassignmentsResponses {
	t.Helper()
	set := kadm.TopicsSet{}
	set.Add(topic, parts...)
	res, err := kadm.NewClient(c.client(t)).ListPartitionReassignments(ctx, set)
	if err != nil {
		t.Fatalf("list reassignments: %v", err)
	}
	return res
}

// reassign asks for topic's partition p to move to replicas, failing the
// test if the request is refused.
func reassign(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, p int32, replicas []int32) {
	t.Helper()
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, p, replicas)
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res[topic][p].Err != nil {
		t.Fatalf("reassign %s-%d to %v: %v %v", topic, p, replicas, err, res)
	}
}

// TestReassignmentUnderLoad moves a partition's replica from node 1 (its
// leader) to node 3 while a producer writes with acks=all: node 3 catches
// up, becomes a replica and the leader, node 1 deletes its copy, the
// producer sees no error, and every acknowledged record is there once.
func TestReassignmentUnderLoad(t *testing.T) {
	c, ctx := adminCluster(t, 34, settings)
	const topic = "moving"
	admin := c.client(t)
	cluster.CreateAssigned(ctx, t, admin, topic, [][]int32{{1, 2}})
	sp := startSyncProducer(ctx, t, c.client(t, kgo.DefaultProduceTopic(topic)))
	acked, ledger := &sp.acked, sp.ledger
	waitCount(t, acked, 500, "acks before the move")

	reassign(ctx, t, kadm.NewClient(admin), topic, 0, []int32{3, 2})
	cluster.Eventually(t, 30*time.Second, "the move done", func() bool {
		if len(reassigning(ctx, t, c, topic, 0)) > 0 {
			return false
		}
		l, _, isr, err := partitionState(ctx, c, t, c.seeds[2], topic, 0)
		return err == nil && l == 3 && slices.Equal(slices.Sorted(slices.Values(isr)), []int32{2, 3})
	})
	dir := filepath.Join(c.nodes[0].opts.DataDir, topic+"-0")
	cluster.Eventually(t, 10*time.Second, "node 1 deletes its replica", func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
	before := acked.Load()
	waitCount(t, acked, before+200, "acks after the move")
	sp.stop()
	ledger.CheckAgainst(t, cluster.ReadAll(ctx, t, c.client(t), topic, 1))
	t.Logf("%d records acknowledged across the move", ledger.NumAcked())
}

// TestReassignmentCancel starts a move to a node that is down, so it
// cannot complete: ListPartitionReassignments shows it with its adding and
// removing replicas until it is cancelled, which drops the replica being
// added.
func TestReassignmentCancel(t *testing.T) {
	c, ctx := adminCluster(t, 35, settings)
	const topic = "stuck"
	admin := c.client(t)
	cluster.CreateAssigned(ctx, t, admin, topic, [][]int32{{1, 2}})
	c.nodes[2].stop(t)
	adm := kadm.NewClient(admin)
	reassign(ctx, t, adm, topic, 0, []int32{3, 2})
	got := reassigning(ctx, t, c, topic, 0)[topic][0]
	if !slices.Equal(got.Replicas, []int32{3, 2, 1}) || !slices.Equal(got.AddingReplicas, []int32{3}) || !slices.Equal(got.RemovingReplicas, []int32{1}) {
		t.Fatalf("in progress: got %+v, want replicas [3 2 1], adding [3], removing [1]", got)
	}
	cancel := kadm.AlterPartitionAssignmentsReq{}
	cancel.CancelAssign(topic, 0)
	if res, err := adm.AlterPartitionAssignments(ctx, cancel); err != nil || res[topic][0].Err != nil {
		t.Fatalf("cancel: %v %v", err, res)
	}
	if left := reassigning(ctx, t, c, topic, 0); len(left) != 0 {
		t.Fatalf("still listed after the cancel: %v", left)
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	// As Kafka reverts: the replicas without those being added, in their
	// order during the move.
	if p := md.Topics[topic].Partitions[0]; !slices.Equal(p.Replicas, []int32{2, 1}) || p.Leader != 1 {
		t.Fatalf("after the cancel: replicas %v leader %d, want [2 1] led by 1", p.Replicas, p.Leader)
	}
	res, err := adm.AlterPartitionAssignments(ctx, cancel)
	if err != nil || !errors.Is(res[topic][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel again: got %v %v, want NO_REASSIGNMENT_IN_PROGRESS", err, res)
	}
	bad := kadm.AlterPartitionAssignmentsReq{}
	bad.Assign(topic, 0, []int32{2, 9})
	bad.Assign("no-such-topic", 0, []int32{1})
	res, err = adm.AlterPartitionAssignments(ctx, bad)
	if err != nil || !errors.Is(res[topic][0].Err, kerr.InvalidReplicaAssignment) || !errors.Is(res["no-such-topic"][0].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("bad requests: got %v %v", err, res)
	}
}

// produceTo sends one record of size random (incompressible) bytes to
// topic's partition p with acks=all, and returns the error
// (MESSAGE_TOO_LARGE is not retried).
func produceTo(ctx context.Context, t *testing.T, c *testCluster, topic string, p int32, size int) error {
	t.Helper()
	cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	v := make([]byte, size)
	_, _ = rand.Read(v) // crypto/rand.Read never fails
	return cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: v}).FirstErr()
}

// TestDynamicBrokerConfigs sets message.max.bytes as a cluster-wide
// dynamic default and for one broker: every node enforces it at once,
// the broker's own wins over the default, DescribeConfigs names the
// sources, a setting that needs a restart is refused for the whole
// resource, and removing the settings restores the command line's. Every
// node also takes a cluster-wide cleaner setting, and one node its own.
func TestDynamicBrokerConfigs(t *testing.T) {
	// The checks produce to the partitions each node leads. A node starved
	// of CPU in a loaded test run and fenced after the chaos settings' 1 s
	// session would lose those leaderships for the rest of the test (the
	// leader rebalance runs every 300 s): Kafka's 9 s session here.
	c, ctx := adminCluster(t, 36, withSettings(map[string]string{"broker.session.timeout.ms": "9000"}))
	const topic = "sized"
	cluster.CreateAssigned(ctx, t, c.client(t), topic, [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}})
	adm := kadm.NewClient(c.client(t))
	for p := range int32(3) {
		if err := produceTo(ctx, t, c, topic, p, 2000); err != nil {
			t.Fatalf("partition %d before any change: %v", p, err)
		}
	}
	set := func(name string, value *string, brokers ...int32) error {
		op := kadm.SetConfig
		if value == nil {
			op = kadm.DeleteConfig
		}
		res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: name, Value: value}}, brokers...)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					return r.Err
				}
			}
		}
		return err
	}
	small, large := "1000", "100000"
	if err := set("message.max.bytes", &small); err != nil {
		t.Fatal(err)
	}
	cluster.Eventually(t, 10*time.Second, "every leader refuses a 2000-byte batch", func() bool {
		for p := range int32(3) {
			if err := produceTo(ctx, t, c, topic, p, 2000); !errors.Is(err, kerr.MessageTooLarge) {
				return false
			}
		}
		return true
	})
	if err := set("message.max.bytes", &large, 2); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	defer func() {
		if t.Failed() && lastErr != nil {
			t.Logf("the last 2000 bytes to partition 1, led by node 2, got %v", lastErr)
		}
	}()
	cluster.Eventually(t, 10*time.Second, "node 2's own setting wins", func() bool {
		lastErr = produceTo(ctx, t, c, topic, 1, 2000)
		return lastErr == nil
	})
	if err := produceTo(ctx, t, c, topic, 0, 2000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("node 1 took a 2000-byte batch: %v", err)
	}
	desc, err := adm.DescribeBrokerConfigs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range desc {
		for _, cfg := range rc.Configs {
			if cfg.Key == "message.max.bytes" && (cfg.Source != kmsg.ConfigSourceDynamicBrokerConfig || *cfg.Value != large ||
				len(cfg.Synonyms) < 2 || cfg.Synonyms[1].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
				t.Errorf("node 2 describes message.max.bytes as %+v", cfg)
			}
		}
	}
	threads, rate := "2", "5000000"
	if err := set("log.cleaner.threads", &threads); err != nil {
		t.Fatal(err)
	}
	if err := set("log.cleaner.io.max.bytes.per.second", &rate, 3); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		wantRate, wantSource := "1.7976931348623157E308", kmsg.ConfigSourceDefaultConfig
		if nd.id == 3 {
			wantRate, wantSource = rate, kmsg.ConfigSourceDynamicBrokerConfig
		}
		cluster.Eventually(t, 10*time.Second, fmt.Sprintf("node %d describes its cleaner settings", nd.id), func() bool {
			desc, err := adm.DescribeBrokerConfigs(ctx, nd.id)
			if err != nil || len(desc) != 1 {
				return false
			}
			got := 0
			for _, cfg := range desc[0].Configs {
				switch {
				case cfg.Key == "log.cleaner.threads" && cfg.MaybeValue() == threads && cfg.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig,
					cfg.Key == "log.cleaner.io.max.bytes.per.second" && cfg.MaybeValue() == wantRate && cfg.Source == wantSource:
					got++
				}
			}
			return got == 2
		})
	}
	rack := "r1"
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "broker.rack", Value: &rack}, {Name: "log.retention.ms", Value: &small}})
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.InvalidRequest) || !strings.Contains(res[0].ErrMessage, "Cannot update these configs dynamically: Set(broker.rack)") {
		t.Fatalf("a static setting: got %v %+v", err, res)
	}
	if err := set("message.max.bytes", nil); err != nil {
		t.Fatal(err)
	}
	if err := set("message.max.bytes", nil, 2); err != nil {
		t.Fatal(err)
	}
	cluster.Eventually(t, 10*time.Second, "the command line's limit back on every node", func() bool {
		for p := range int32(3) {
			if produceTo(ctx, t, c, topic, p, 2000) != nil {
				return false
			}
		}
		return true
	})
}

// TestThrottledReassignment moves a partition holding 1 MB to node 3 with
// replication throttled to 250 kB/s on both sides (KIP-73's configs: the
// rates as cluster-wide dynamic settings, the replicas as topic configs).
// The move cannot finish sooner than the data allows at that rate, and the
// new replica holds every record.
func TestThrottledReassignment(t *testing.T) {
	c, ctx := adminCluster(t, 37, settings)
	const topic = "throttled"
	admin := c.client(t)
	cluster.CreateAssigned(ctx, t, admin, topic, [][]int32{{1, 2}})
	prod := c.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ledger := cluster.NewLedger()
	for i := range 1000 {
		v := make([]byte, 1000)
		_, _ = rand.Read(v)
		ledger.Attempted(v)
		prod.Produce(ctx, &kgo.Record{Value: v}, func(r *kgo.Record, err error) {
			ledger.Promise(r, err)
			if err != nil {
				t.Errorf("produce %d: %v", i, err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admin)
	rate := "250000"
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.rate", Value: &rate},
		{Name: "follower.replication.throttled.rate", Value: &rate}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set the rates: %v %v", err, res)
	}
	leaders, followers := "0:1,0:2", "0:3"
	tres, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.replicas", Value: &leaders},
		{Name: "follower.replication.throttled.replicas", Value: &followers}}, topic)
	if err != nil || tres[0].Err != nil {
		t.Fatalf("name the throttled replicas: %v %v", err, tres)
	}
	// Every node applies the settings before the move starts.
	for _, nd := range c.nodes {
		cluster.Eventually(t, 10*time.Second, fmt.Sprintf("node %d has the throttle", nd.id), func() bool {
			d, err := kadm.NewClient(c.client(t, kgo.SeedBrokers(nd.opts.Listen))).DescribeTopicConfigs(ctx, topic)
			if err != nil || len(d) == 0 {
				return false
			}
			for _, cfg := range d[0].Configs {
				if cfg.Key == "leader.replication.throttled.replicas" {
					return cfg.MaybeValue() == leaders
				}
			}
			return false
		})
	}
	start := time.Now()
	reassign(ctx, t, adm, topic, 0, []int32{3, 2})
	cluster.Eventually(t, 30*time.Second, "the throttled move done", func() bool { return len(reassigning(ctx, t, c, topic, 0)) == 0 })
	took := time.Since(start)
	// 1 MB at 250 kB/s, with at most a second's burst to start: 3 s.
	if took < 2*time.Second {
		t.Errorf("1 MB moved in %v through a 250 kB/s throttle", took)
	}
	t.Logf("1 MB moved in %v at 250 kB/s", took.Round(time.Millisecond))
	all := cluster.ReadAll(ctx, t, c.client(t), topic, 1)
	if recs := all[cluster.TopicPartition{Topic: topic, Partition: 0}]; len(recs) != 1000 {
		t.Fatalf("read %d records after the move, want 1000", len(recs))
	}
	ledger.CheckAgainst(t, all)
}

// TestFollowerFetching runs three nodes in racks r1, r2 and r3 with
// Kafka's RackAwareReplicaSelector (KIP-392). The leader (node 1) sends a
// consumer in r2 to node 2, which serves it up to the high watermark; a
// consumer in r1 reads from the leader itself; a franz-go consumer in r2,
// which the leader sends to node 2 the same way, reads every record.
func TestFollowerFetching(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster for seconds")
	}
	c := startClusterEach(t, 3, newNetwork(38), func(id int32) map[string]string {
		s := withSettings(map[string]string{"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"})
		s["broker.rack"] = fmt.Sprintf("r%d", id)
		return s
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "near"
	cluster.CreateAssigned(ctx, t, c.client(t), topic, [][]int32{{1, 2, 3}})
	prod := c.client(t, kgo.DefaultProduceTopic(topic))
	for i := range 100 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "n-%03d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cluster.Eventually(t, 10*time.Second, "every replica in sync", func() bool {
		_, _, isr, err := partitionState(ctx, c, t, c.seeds[0], topic, 0)
		return err == nil && len(isr) == 3
	})
	fetch := func(node int, rack string) *kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.SessionEpoch, req.Rack = -1, 1<<20, -1, rack
		req.ReplicaState.ID = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(1, 12) // by topic name
		resp, err := req.RequestWith(ctx, c.client(t, kgo.SeedBrokers(c.seeds[node-1]), kgo.MaxVersions(vs)).Broker(node))
		if err != nil {
			t.Fatalf("fetch from node %d: %v", node, err)
		}
		return &resp.Topics[0].Partitions[0]
	}
	if p := fetch(1, "r2"); p.PreferredReadReplica != 2 || len(p.RecordBatches) != 0 || p.ErrorCode != 0 {
		t.Errorf("leader, consumer in r2: preferred %d, %d bytes, error %d; want 2, none, none", p.PreferredReadReplica, len(p.RecordBatches), p.ErrorCode)
	}
	if p := fetch(1, "r1"); p.PreferredReadReplica != -1 || len(p.RecordBatches) == 0 {
		t.Errorf("leader, consumer in r1: preferred %d, %d bytes; want -1 and records", p.PreferredReadReplica, len(p.RecordBatches))
	}
	// The follower learns the leader's high watermark with its next fetch.
	cluster.Eventually(t, 10*time.Second, "node 2 serves records up to the high watermark", func() bool {
		p := fetch(2, "r2")
		return p.ErrorCode == 0 && len(p.RecordBatches) > 0 && p.HighWatermark == 100
	})

	cons := c.client(t, kgo.Rack("r2"), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	for len(got) < 100 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of 100 records: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := fmt.Sprintf("n-%03d", i); v != want {
			t.Fatalf("record %d: got %q, want %q", i, v, want)
		}
	}
}

// quorum describes the metadata quorum through the node at addr.
func quorum(ctx context.Context, t *testing.T, c *testCluster, addr string) (leader int32, voters, observers []int32) {
	t.Helper()
	resp, err := cluster.DescribeQuorum(ctx, c.client(t, kgo.SeedBrokers(addr)))
	if err != nil || len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		return -1, nil, nil
	}
	p := resp.Topics[0].Partitions[0]
	for _, v := range p.CurrentVoters {
		voters = append(voters, v.ReplicaID)
	}
	for _, o := range p.Observers {
		observers = append(observers, o.ReplicaID)
	}
	return p.LeaderID, voters, observers
}

// TestReplaceVoter replaces voter 1 of three with the broker-only node 4
// while a producer writes with acks=all (KIP-853): AddRaftVoter makes node
// 4 a voter, RemoveRaftVoter makes node 1 a learner, and once node 1 stops
// the quorum of 2, 3 and 4 carries on. Nothing acknowledged is lost.
func TestReplaceVoter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster for seconds")
	}
	c := startClusterOf(t, 4, 3, newNetwork(39), func(int32) map[string]string { return settings })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "voters"
	admin := c.client(t, kgo.SeedBrokers(c.seeds[1:]...))
	cluster.CreateAssigned(ctx, t, admin, topic, [][]int32{{2, 3, 4}})
	cluster.Eventually(t, 20*time.Second, "node 4 a learner", func() bool {
		_, _, obs := quorum(ctx, t, c, c.seeds[1])
		return slices.Contains(obs, 4)
	})
	sp := startSyncProducer(ctx, t, c.client(t, kgo.SeedBrokers(c.seeds[1:]...), kgo.DefaultProduceTopic(topic)))
	acked, ledger := &sp.acked, sp.ledger
	waitCount(t, acked, 200, "acks before the change")
	change := func(add bool, id int32) int16 {
		t.Helper()
		var code int16
		if add {
			req := kmsg.NewPtrAddRaftVoterRequest()
			req.VoterID, req.TimeoutMillis = id, 20000
			resp, err := req.RequestWith(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			code = resp.ErrorCode
		} else {
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID = id
			resp, err := req.RequestWith(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			code = resp.ErrorCode
		}
		return code
	}
	if code := change(true, 4); code != 0 {
		t.Fatalf("add voter 4: %v", kerr.ErrorForCode(code))
	}
	if code := change(true, 4); code != kerr.DuplicateVoter.Code {
		t.Errorf("add voter 4 again: got %v, want DUPLICATE_VOTER", kerr.ErrorForCode(code))
	}
	if code := change(true, 9); code != kerr.InvalidRequest.Code {
		t.Errorf("add node 9, no learner: got %v, want INVALID_REQUEST", kerr.ErrorForCode(code))
	}
	if code := change(false, 1); code != 0 {
		t.Fatalf("remove voter 1: %v", kerr.ErrorForCode(code))
	}
	if code := change(false, 1); code != kerr.VoterNotFound.Code {
		t.Errorf("remove voter 1 again: got %v, want VOTER_NOT_FOUND", kerr.ErrorForCode(code))
	}
	cluster.Eventually(t, 10*time.Second, "voters 2, 3 and 4 everywhere", func() bool {
		for _, addr := range c.seeds[1:] {
			_, v, _ := quorum(ctx, t, c, addr)
			if !slices.Equal(v, []int32{2, 3, 4}) {
				return false
			}
		}
		return true
	})
	before := acked.Load()
	c.nodes[0].stop(t)
	waitCount(t, acked, before+300, "acks with node 1 stopped")
	leader, v, _ := quorum(ctx, t, c, c.seeds[1])
	if leader < 2 || !slices.Equal(v, []int32{2, 3, 4}) {
		t.Errorf("after node 1 stopped: leader %d, voters %v", leader, v)
	}
	sp.stop()
	ledger.CheckAgainst(t, cluster.ReadAll(ctx, t, c.client(t, kgo.SeedBrokers(c.seeds[1:]...)), topic, 1))
	t.Logf("%d records acknowledged through the voter change", ledger.NumAcked())

	// The CLI shows the same quorum.
	var out strings.Builder
	cmd := cli.NewRootCommand()
	cmd.SetArgs([]string{"--brokers", strings.Join(c.seeds[1:], ","), "cluster", "voters", "describe"})
	cmd.SetOut(&out)
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("voters describe: %v", err)
	}
	roles := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n")[2:] {
		if f := strings.Fields(line); len(f) == 4 {
			roles[f[0]] = f[1]
		}
	}
	for _, id := range []string{"2", "3", "4"} {
		if roles[id] != "voter" && roles[id] != "leader" {
			t.Errorf("voters describe: node %s is %q, want a voter:\n%s", id, roles[id], out.String())
		}
	}
	if roles["1"] != "learner" {
		t.Errorf("voters describe: node 1 is %q, want a learner:\n%s", roles["1"], out.String())
	}
}
