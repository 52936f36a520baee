package clients

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/stratalog/strata/test/cluster"
)

// saramaConfig is sarama's default configuration at a recent protocol
// version: sarama is strict and fails when a broker lacks an API version
// it expects.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "strata-clients-sarama"
	return cfg
}

// saramaAdmin returns a ClusterAdmin on every node of c, closed when the
// test ends.
func saramaAdmin(t *testing.T, c *cluster.Cluster) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(addrs(c), saramaConfig())
	if err != nil {
		t.Fatalf("sarama cluster admin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

// saramaCreateTopic creates the test's topic through ClusterAdmin, which
// sends CreateTopics to the controller named in metadata.
func saramaCreateTopic(t *testing.T, adm sarama.ClusterAdmin, topic string) {
	t.Helper()
	err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: replicas}, false)
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// saramaLayout reads the cluster's brokers and topic's partitions through
// ClusterAdmin's DescribeCluster and DescribeTopics.
func saramaLayout(adm sarama.ClusterAdmin, topic string) ([]int32, map[int32]partitionInfo, error) {
	brokers, _, err := adm.DescribeCluster()
	if err != nil {
		return nil, nil, fmt.Errorf("describe cluster: %w", err)
	}
	var ids []int32
	for _, b := range brokers {
		ids = append(ids, b.ID())
	}
	tms, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		return nil, nil, fmt.Errorf("describe topics: %w", err)
	}
	if len(tms) != 1 || tms[0].Err != sarama.ErrNoError {
		return nil, nil, fmt.Errorf("describe topics: %d topics, error %v", len(tms), tms[0].Err)
	}
	parts := map[int32]partitionInfo{}
	for _, p := range tms[0].Partitions {
		parts[p.ID] = partitionInfo{leader: p.Leader, replicas: p.Replicas, isr: p.Isr}
	}
	return ids, parts, nil
}

// saramaGroupHandler feeds a group member's records to a consumed set,
// marks them, and when every partition is read to its end commits and
// calls done.
type saramaGroupHandler struct {
	seen *consumed
	done func()
}

func (saramaGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h saramaGroupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.seen.add(m.Partition, m.Offset, m.Key, m.Value)
		s.MarkMessage(m, "")
		if h.seen.done() {
			s.Commit() // synchronous without auto-commit
			h.done()
		}
	}
	return nil
}

// TestSaramaLifecycle: a topic's life through sarama (ClusterAdmin,
// SyncProducer, Consumer, ConsumerGroup) on a three-node cluster.
func TestSaramaLifecycle(t *testing.T) {
	c := startCluster(t)
	topic, group := topicName(t), topicName(t)+"-group"
	adm := saramaAdmin(t, c)
	saramaCreateTopic(t, adm, topic)
	eventually(t, 10*time.Second, "metadata of the new topic", func() error {
		brokers, parts, err := saramaLayout(adm, topic)
		if err != nil {
			return err
		}
		return checkLayout(brokers, parts)
	})

	// Produce with acks=all, idempotent (which needs one request in flight
	// per broker), to the partition each record names.
	cfg := saramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(addrs(c), cfg)
	if err != nil {
		t.Fatalf("sync producer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, lifeRecords)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: lifePartition(i),
			Key: sarama.StringEncoder(lifeKey(i)), Value: sarama.StringEncoder(lifeValue("sarama", i))}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("close producer: %v", err)
	}
	for i, m := range msgs {
		checkAck(t, i, m.Partition, m.Offset)
	}

	// A plain consumer of every partition from the oldest offset.
	plain := newConsumed("sarama")
	consumer, err := sarama.NewConsumer(addrs(c), saramaConfig())
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	timeout := time.After(60 * time.Second)
	for p := range int32(partitions) {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume partition %d: %v", p, err)
		}
		for range perPartition(p) {
			select {
			case m := <-pc.Messages():
				plain.add(m.Partition, m.Offset, m.Key, m.Value)
			case cerr := <-pc.Errors():
				t.Fatalf("consume partition %d: %v", p, cerr)
			case <-timeout:
				t.Fatalf("partition %d: timed out reading", p)
			}
		}
		pc.Close()
	}
	consumer.Close()
	plain.check(t, "plain consumer")

	// A group member that commits what it consumed, then leaves.
	gcfg := saramaConfig()
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	gcfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(addrs(c), group, gcfg)
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	grouped := newConsumed("sarama")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gctx, finished := context.WithCancel(ctx)
	defer finished()
	for gctx.Err() == nil {
		if err := cg.Consume(gctx, []string{topic}, saramaGroupHandler{grouped, finished}); err != nil {
			t.Fatalf("group consume: %v", err)
		}
	}
	if err := cg.Close(); err != nil { // leaves the group
		t.Errorf("close consumer group: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("group member: %v", ctx.Err())
	}
	grouped.check(t, "group member")

	tps := map[string][]int32{topic: {0, 1, 2}}
	offsets, err := adm.ListConsumerGroupOffsets(group, tps)
	if err != nil {
		t.Fatalf("list consumer group offsets: %v", err)
	}
	for p := range int32(partitions) {
		b := offsets.GetBlock(topic, p)
		if b == nil || b.Err != sarama.ErrNoError || b.Offset != perPartition(p) {
			t.Errorf("partition %d: committed offset block %+v, want offset %d", p, b, perPartition(p))
		}
	}

	groups, err := adm.ListConsumerGroups()
	if err != nil {
		t.Fatalf("list consumer groups: %v", err)
	}
	if pt, ok := groups[group]; !ok || pt != "consumer" {
		t.Errorf("list consumer groups: %s listed %v with protocol type %q, want consumer; all: %v", group, ok, pt, groups)
	}
	described, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil {
		t.Fatalf("describe consumer groups: %v", err)
	}
	if len(described) != 1 {
		t.Fatalf("describe consumer groups: %d groups, want 1", len(described))
	}
	if g := described[0]; g.Err != sarama.ErrNoError || g.State != "Empty" || g.ProtocolType != "consumer" || len(g.Members) != 0 {
		t.Errorf("describe group: state %q, protocol type %q, %d members, error %v; want Empty, consumer, 0, none",
			g.State, g.ProtocolType, len(g.Members), g.Err)
	}

	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if d, ok := topics[topic]; !ok || d.NumPartitions != partitions || d.ReplicationFactor != replicas {
		t.Errorf("list topics: %s listed %v as %+v, want %d partitions of %d replicas", topic, ok, d, partitions, replicas)
	}

	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	eventually(t, 10*time.Second, "the deleted topic to leave the topic list", func() error {
		topics, err := adm.ListTopics()
		if err != nil {
			return err
		}
		if _, ok := topics[topic]; ok {
			return fmt.Errorf("%s still listed", topic)
		}
		return nil
	})
}

// TestSaramaKillLeader: sarama's async producer produces with acks=all
// while the leader of a partition is killed with SIGKILL and later
// restarted.
func TestSaramaKillLeader(t *testing.T) {
	c := startCluster(t)
	topic := topicName(t)
	adm := saramaAdmin(t, c)
	saramaCreateTopic(t, adm, topic)

	cfg := saramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true // no duplicates from retries
	cfg.Net.MaxOpenRequests = 1    // which idempotence requires
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	// sarama retries a failed batch Retry.Max times (3 by default, 100 ms
	// apart), refreshing metadata in between: 300 ms, less than the cluster
	// takes to notice a dead leader (broker.session.timeout.ms) and elect
	// another, so with the defaults every record in flight at the kill
	// fails. A user who wants records to ride over a failover gives the
	// retries a few seconds: 50 tries 100 ms apart. Metadata refreshes are
	// retried likewise, since a refresh may first ask the dead node.
	cfg.Producer.Retry.Max = 50
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	client, err := sarama.NewClient(addrs(c), cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()

	killLeaderDuringProduce(t, c, "sarama", topic, faultClient{
		leader: func(p int32) int32 {
			if err := client.RefreshMetadata(topic); err != nil {
				t.Fatalf("refresh metadata: %v", err)
			}
			b, err := client.Leader(topic, p)
			if err != nil {
				t.Fatalf("leader of partition %d: %v", p, err)
			}
			return b.ID()
		},
		produce: func(ctx context.Context, r *faultRun) {
			producer, err := sarama.NewAsyncProducerFromClient(client)
			if err != nil {
				r.fail(err)
				return
			}
			inflight := make(chan struct{}, 200)
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				successes, errs := producer.Successes(), producer.Errors()
				for successes != nil || errs != nil {
					select {
					case m, ok := <-successes:
						if !ok {
							successes = nil
							continue
						}
						r.ack(m.Partition, m.Offset, m.Metadata.([]byte))
						<-inflight
					case e, ok := <-errs:
						if !ok {
							errs = nil
							continue
						}
						r.fail(e.Err)
						<-inflight
					}
				}
			}()
			for ctx.Err() == nil {
				select {
				case inflight <- struct{}{}:
				case <-ctx.Done():
					continue
				}
				v := r.nextValue()
				producer.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(v), Metadata: v}
			}
			producer.AsyncClose() // flushes what is buffered, then closes both channels
			<-drained
		},
		read: func(ctx context.Context) map[cluster.TopicPartition][]cluster.Record {
			return saramaReadAll(ctx, t, client, topic)
		},
	})
}

// saramaReadAll reads every partition of topic with sarama's consumer,
// from the oldest offset to the newest listed when it is called.
func saramaReadAll(ctx context.Context, t *testing.T, client sarama.Client, topic string) map[cluster.TopicPartition][]cluster.Record {
	t.Helper()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	out := map[cluster.TopicPartition][]cluster.Record{}
	for p := range int32(partitions) {
		tp := cluster.TopicPartition{Topic: topic, Partition: p}
		out[tp] = nil
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("partition %d: newest offset: %v", p, err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume partition %d: %v", p, err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				out[tp] = append(out[tp], cluster.Record{Offset: m.Offset, Value: m.Value})
				done = m.Offset >= end-1
			case cerr := <-pc.Errors():
				pc.Close()
				t.Fatalf("consume partition %d: %v", p, cerr)
			case <-ctx.Done():
				pc.Close()
				t.Fatalf("partition %d: %v after %d records of [0, %d)", p, ctx.Err(), len(out[tp]), end)
			}
		}
		pc.Close()
	}
	return out
}
