package clients

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/test/cluster"
)

// franzClient returns a franz-go client on every node of c, closed when the
// test ends.
func franzClient(t *testing.T, c *cluster.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs(c)...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestFranzLifecycle: a topic's life through franz-go (kgo and kadm) on a
// three-node cluster.
func TestFranzLifecycle(t *testing.T) {
	c := startCluster(t)
	topic, group := topicName(t), topicName(t)+"-group"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(franzClient(t, c))

	res, err := adm.CreateTopic(ctx, partitions, replicas, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	eventually(t, 10*time.Second, "metadata of the new topic", func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		return checkKadmLayout(md, topic)
	})

	// Produce with acks=all (franz-go's default, idempotent).
	producer := franzClient(t, c, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond))
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var produceErr error
	for i := range lifeRecords {
		wg.Add(1)
		rec := &kgo.Record{Key: []byte(lifeKey(i)), Value: []byte(lifeValue("franz", i)), Partition: lifePartition(i)}
		producer.Produce(ctx, rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errMu.Lock()
				produceErr = cmp.Or(produceErr, fmt.Errorf("record %d: %w", i, err))
				errMu.Unlock()
				return
			}
			checkAck(t, i, r.Partition, r.Offset)
		})
	}
	wg.Wait()
	if produceErr != nil {
		t.Fatalf("produce: %v", produceErr)
	}

	// A plain consumer of every partition from the start.
	starts := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		starts[p] = kgo.NewOffset().AtStart()
	}
	plain := newConsumed("franz")
	consumer := franzClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))
	for !plain.done() && ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		fetches.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("fetch partition %d: %v", p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { plain.add(r.Partition, r.Offset, r.Key, r.Value) })
	}
	consumer.Close()
	plain.check(t, "plain consumer")

	// A group member that commits what it consumed, then leaves.
	grouped := newConsumed("franz")
	member := franzClient(t, c, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for !grouped.done() && ctx.Err() == nil {
		fetches := member.PollFetches(ctx)
		fetches.EachError(func(_ string, p int32, err error) { t.Errorf("group fetch partition %d: %v", p, err) })
		fetches.EachRecord(func(r *kgo.Record) { grouped.add(r.Partition, r.Offset, r.Key, r.Value) })
		if err := member.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	member.Close() // leaves the group
	grouped.check(t, "group member")

	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	for p := range int32(partitions) {
		o, ok := committed.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != perPartition(p) {
			t.Errorf("partition %d: committed offset %d (listed %v, error %v), want %d", p, o.At, ok, o.Err, perPartition(p))
		}
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	if _, ok := listed[group]; !ok {
		t.Errorf("list groups: %s missing from %v", group, listed.Groups())
	}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe group: %v", err)
	}
	if g := described[group]; g.Err != nil || g.State != "Empty" || g.ProtocolType != "consumer" || len(g.Members) != 0 {
		t.Errorf("describe group: state %q, protocol type %q, %d members, error %v; want Empty, consumer, 0, none",
			g.State, g.ProtocolType, len(g.Members), g.Err)
	}

	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if td, ok := topics[topic]; !ok || len(td.Partitions) != partitions || td.Partitions.NumReplicas() != replicas {
		t.Errorf("list topics: %s listed %v with %d partitions of %d replicas, want %d of %d",
			topic, ok, len(td.Partitions), td.Partitions.NumReplicas(), partitions, replicas)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	for p := range int32(partitions) {
		if o, ok := ends.Lookup(topic, p); !ok || o.Err != nil || o.Offset != perPartition(p) {
			t.Errorf("partition %d: end offset %d (error %v), want %d", p, o.Offset, o.Err, perPartition(p))
		}
	}

	del, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = del.Err
	}
	if err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	eventually(t, 10*time.Second, "the deleted topic to leave every node's metadata", func() error {
		for _, n := range c.Nodes() {
			one := kadm.NewClient(franzClient(t, c, kgo.SeedBrokers(n.KafkaAddr())))
			topics, err := one.ListTopics(ctx)
			one.Close()
			if err != nil {
				return err
			}
			if topics.Has(topic) {
				return fmt.Errorf("node %d still lists %s", n.ID(), topic)
			}
		}
		return nil
	})
}

// TestFranzKillLeader: franz-go produces with acks=all while the leader of
// a partition is killed with SIGKILL and later restarted.
func TestFranzKillLeader(t *testing.T) {
	c := startCluster(t)
	topic := topicName(t)
	adm := kadm.NewClient(franzClient(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := adm.CreateTopic(ctx, partitions, replicas, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}

	// franz-go retries a record until its delivery timeout (none by
	// default), refreshing metadata when a broker answers NOT_LEADER or
	// its connection breaks; such refreshes are at most one per
	// MetadataMinAge (5s by default), which alone would add seconds to
	// finding the new leader, so a user who wants fast failover lowers it.
	// The delivery timeout bounds how long a record may wait for one.
	producer := franzClient(t, c,
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence, the default
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(50*time.Millisecond<<min(tries, 4), 500*time.Millisecond)
		}),
		kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.ProducerLinger(2*time.Millisecond),
	)

	killLeaderDuringProduce(t, c, "franz", topic, faultClient{
		leader: func(p int32) int32 {
			md, err := adm.Metadata(ctx, topic)
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			for _, pd := range md.Topics[topic].Partitions {
				if pd.Partition == p && pd.Leader >= 0 {
					return pd.Leader
				}
			}
			t.Fatalf("metadata names no leader of partition %d", p)
			return -1
		},
		produce: func(ctx context.Context, r *faultRun) {
			var wg sync.WaitGroup
			inflight := make(chan struct{}, 200)
			for ctx.Err() == nil {
				select {
				case inflight <- struct{}{}:
				case <-ctx.Done():
					continue
				}
				wg.Add(1)
				producer.Produce(context.Background(), &kgo.Record{Value: r.nextValue()}, func(rec *kgo.Record, err error) {
					defer wg.Done()
					<-inflight
					if err != nil {
						r.fail(err)
						return
					}
					r.ack(rec.Partition, rec.Offset, rec.Value)
				})
			}
			wg.Wait()
		},
		read: func(ctx context.Context) map[cluster.TopicPartition][]cluster.Record {
			return cluster.ReadAll(ctx, t, producer, topic, partitions)
		},
	})
}
