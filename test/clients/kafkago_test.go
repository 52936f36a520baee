package clients

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/stratalog/strata/test/cluster"
)

// kafkaGoClient returns a kafka-go Client on every node of c with a
// transport of its own (the shared default transport caches metadata
// across tests), its connections closed when the test ends. ttl bounds
// the age of the transport's cached metadata (kafka-go serves Metadata
// requests from that cache, refreshed after CreateTopics and every ttl).
func kafkaGoClient(t *testing.T, c *cluster.Cluster, ttl time.Duration) *kafka.Client {
	t.Helper()
	transport := &kafka.Transport{ClientID: "strata-clients-kafka-go", MetadataTTL: ttl}
	t.Cleanup(transport.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(addrs(c)...), Transport: transport, Timeout: 10 * time.Second}
}

// kafkaGoCreateTopic creates the test's topic with kafka-go's
// Client.CreateTopics.
func kafkaGoCreateTopic(ctx context.Context, t *testing.T, cl *kafka.Client, topic string) {
	t.Helper()
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: partitions, ReplicationFactor: replicas}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// kafkaGoLayout reads the brokers and the topic's partitions with
// Client.Metadata.
func kafkaGoLayout(ctx context.Context, cl *kafka.Client, topic string) ([]int32, map[int32]partitionInfo, error) {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, nil, err
	}
	var brokers []int32
	for _, b := range md.Brokers {
		brokers = append(brokers, int32(b.ID))
	}
	ids := func(bs []kafka.Broker) []int32 {
		out := make([]int32, len(bs))
		for i, b := range bs {
			out[i] = int32(b.ID)
		}
		return out
	}
	parts := map[int32]partitionInfo{}
	for _, tm := range md.Topics {
		if tm.Name != topic {
			continue
		}
		if tm.Error != nil {
			return nil, nil, tm.Error
		}
		for _, p := range tm.Partitions {
			parts[int32(p.ID)] = partitionInfo{leader: int32(p.Leader.ID), replicas: ids(p.Replicas), isr: ids(p.Isr)}
		}
	}
	return brokers, parts, nil
}

// indexBalancer sends a lifecycle record to the partition its key names.
type indexBalancer struct{}

func (indexBalancer) Balance(m kafka.Message, _ ...int) int {
	i, _ := strconv.Atoi(string(m.Key[len("k-"):]))
	return int(lifePartition(i))
}

// TestKafkaGoLifecycle: a topic's life through kafka-go (Client, Writer,
// Reader, Reader in a group) on a three-node cluster.
func TestKafkaGoLifecycle(t *testing.T) {
	c := startCluster(t)
	topic, group := topicName(t), topicName(t)+"-group"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := kafkaGoClient(t, c, 0)
	kafkaGoCreateTopic(ctx, t, cl, topic)
	eventually(t, 10*time.Second, "metadata of the new topic", func() error {
		brokers, parts, err := kafkaGoLayout(ctx, cl, topic)
		if err != nil {
			return err
		}
		return checkLayout(brokers, parts)
	})

	// Produce with acks=all; the Completion callback sees each record's
	// partition and offset.
	acked := make([]bool, lifeRecords)
	var mu sync.Mutex
	w := &kafka.Writer{
		Addr: kafka.TCP(addrs(c)...), Topic: topic, Transport: cl.Transport,
		Balancer: indexBalancer{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 500, BatchTimeout: 5 * time.Millisecond,
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				i, _ := strconv.Atoi(string(m.Key[len("k-"):]))
				checkAck(t, i, int32(m.Partition), m.Offset)
				acked[i] = true
			}
		},
	}
	msgs := make([]kafka.Message, lifeRecords)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(lifeKey(i)), Value: []byte(lifeValue("kafka-go", i))}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}
	for i, ok := range acked {
		if !ok {
			t.Fatalf("record %d: no acknowledgement reached Completion", i)
		}
	}

	// A plain reader per partition from the first offset.
	plain := newConsumed("kafka-go")
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs(c), Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
		for range perPartition(int32(p)) {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read partition %d: %v", p, err)
			}
			plain.add(int32(m.Partition), m.Offset, m.Key, m.Value)
		}
		r.Close()
	}
	plain.check(t, "plain reader")

	// A group member (a Reader with a GroupID) that commits what it read,
	// then leaves the group when closed.
	grouped := newConsumed("kafka-go")
	member := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs(c), GroupID: group, GroupTopics: []string{topic},
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second})
	for !grouped.done() {
		m, err := member.FetchMessage(ctx)
		if err != nil {
			member.Close()
			t.Fatalf("group member: fetch: %v", err)
		}
		grouped.add(int32(m.Partition), m.Offset, m.Key, m.Value)
		if err := member.CommitMessages(ctx, m); err != nil {
			member.Close()
			t.Fatalf("group member: commit: %v", err)
		}
	}
	if err := member.Close(); err != nil {
		t.Errorf("close group member: %v", err)
	}
	grouped.check(t, "group member")

	fetched, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err == nil {
		err = fetched.Error
	}
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	got := map[int]int64{}
	for _, p := range fetched.Topics[topic] {
		if p.Error != nil {
			t.Errorf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		got[p.Partition] = p.CommittedOffset
	}
	for p := range partitions {
		if o, ok := got[p]; !ok || o != perPartition(int32(p)) {
			t.Errorf("partition %d: committed offset %d (listed %v), want %d", p, o, ok, perPartition(int32(p)))
		}
	}

	listed, err := cl.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err == nil {
		err = listed.Error
	}
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	found := false
	for _, g := range listed.Groups {
		if g.GroupID == group {
			found = true
			if g.ProtocolType != "consumer" {
				t.Errorf("list groups: %s has protocol type %q, want consumer", group, g.ProtocolType)
			}
		}
	}
	if !found {
		t.Errorf("list groups: %s missing from %+v", group, listed.Groups)
	}
	described, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	if len(described.Groups) != 1 {
		t.Fatalf("describe groups: %d groups, want 1", len(described.Groups))
	}
	if g := described.Groups[0]; g.Error != nil || g.GroupState != "Empty" || len(g.Members) != 0 {
		t.Errorf("describe group: state %q, %d members, error %v; want Empty, 0, none", g.GroupState, len(g.Members), g.Error)
	}

	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	for _, po := range offs.Topics[topic] {
		if po.Error != nil || po.LastOffset != perPartition(int32(po.Partition)) {
			t.Errorf("partition %d: last offset %d (error %v), want %d", po.Partition, po.LastOffset, po.Error, perPartition(int32(po.Partition)))
		}
	}

	del, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err == nil {
		err = del.Errors[topic]
	}
	if err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	// A new client: this one's cached metadata may still hold the topic.
	fresh := kafkaGoClient(t, c, 0)
	eventually(t, 10*time.Second, "the deleted topic to leave metadata", func() error {
		md, err := fresh.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			return err
		}
		for _, tm := range md.Topics {
			if tm.Name == topic {
				return fmt.Errorf("%s still listed", topic)
			}
		}
		return nil
	})
}

// TestKafkaGoKillLeader: kafka-go's Writer produces with acks=all while
// the leader of a partition is killed with SIGKILL and later restarted.
func TestKafkaGoKillLeader(t *testing.T) {
	c := startCluster(t)
	topic := topicName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// kafka-go's transport finds a new leader only when it refreshes its
	// cached metadata, at a random moment within MetadataTTL (6s by
	// default): a user who wants fast failover shortens it.
	cl := kafkaGoClient(t, c, 500*time.Millisecond)
	kafkaGoCreateTopic(ctx, t, cl, topic)

	// kafka-go has no idempotent producer: a batch retried after the
	// leader died may already be in the new leader's log, and is then
	// written twice. A user who needs each record at most once (as the
	// ledger checks) turns the Writer's own retries off (MaxAttempts 1)
	// and sends new records after an error, leaving the failed ones
	// unacknowledged.
	w := &kafka.Writer{
		Addr: kafka.TCP(addrs(c)...), Topic: topic, Transport: cl.Transport,
		RequiredAcks: kafka.RequireAll, MaxAttempts: 1,
		BatchSize: 100, BatchTimeout: 2 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
	}
	defer w.Close()

	killLeaderDuringProduce(t, c, "kafka-go", topic, faultClient{
		leader: func(p int32) int32 {
			_, parts, err := kafkaGoLayout(ctx, cl, topic)
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			info, ok := parts[p]
			if !ok || info.leader < 0 {
				t.Fatalf("metadata names no leader of partition %d", p)
			}
			return info.leader
		},
		produce: func(ctx context.Context, r *faultRun) {
			w.Completion = func(msgs []kafka.Message, err error) {
				if err != nil {
					r.fail(err)
					return
				}
				for _, m := range msgs {
					r.ack(int32(m.Partition), m.Offset, m.Value)
				}
			}
			// A few writers at once, each a batch at a time.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						msgs := make([]kafka.Message, 30)
						for i := range msgs {
							msgs[i] = kafka.Message{Value: r.nextValue()}
						}
						if err := w.WriteMessages(context.Background(), msgs...); err != nil && !errors.As(err, new(kafka.WriteErrors)) {
							r.fail(err)
						}
					}
				})
			}
			wg.Wait()
		},
		read: func(ctx context.Context) map[cluster.TopicPartition][]cluster.Record {
			return kafkaGoReadAll(ctx, t, c, cl, topic)
		},
	})
}

// kafkaGoReadAll reads every partition of topic with kafka-go Readers,
// from the first offset to the last listed when it is called.
func kafkaGoReadAll(ctx context.Context, t *testing.T, c *cluster.Cluster, cl *kafka.Client, topic string) map[cluster.TopicPartition][]cluster.Record {
	t.Helper()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {}}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	var ends map[int]int64
	eventually(t, 30*time.Second, "end offsets of every partition", func() error {
		res, err := cl.ListOffsets(ctx, req)
		if err != nil {
			return err
		}
		ends = map[int]int64{}
		for _, po := range res.Topics[topic] {
			if po.Error != nil {
				return fmt.Errorf("partition %d: %w", po.Partition, po.Error)
			}
			ends[po.Partition] = po.LastOffset
		}
		if len(ends) != partitions {
			return fmt.Errorf("end offsets of %d partitions, want %d", len(ends), partitions)
		}
		return nil
	})
	out := map[cluster.TopicPartition][]cluster.Record{}
	for p := range partitions {
		tp := cluster.TopicPartition{Topic: topic, Partition: int32(p)}
		out[tp] = nil
		if ends[p] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs(c), Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read partition %d after %d records of [0, %d): %v", p, len(out[tp]), ends[p], err)
			}
			out[tp] = append(out[tp], cluster.Record{Offset: m.Offset, Value: m.Value})
			if m.Offset >= ends[p]-1 {
				break
			}
		}
		r.Close()
	}
	return out
}
