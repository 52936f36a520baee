package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
)

// saramaHandler records each message, marks it, and commits synchronously
// when its claims end (before the partitions move).
type saramaHandler struct{ seen *seenSet }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

func (saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	return nil
}

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.seen.add(string(m.Value))
		s.MarkMessage(m, "")
	}
	return nil
}

func startSaramaMember(t *testing.T, addr, group, topic string, seen *seenSet) (stop func()) {
	t.Helper()
	cfg := saramaConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, saramaHandler{seen}); err != nil && ctx.Err() == nil {
				t.Errorf("sarama consume: %v", err)
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
		cg.Close()
	}
}

// membersComeAndGo runs the mid-stream join and leave scenario with one
// client library's group members over a 12-partition topic: every record
// must be consumed exactly once overall.
func membersComeAndGo(t *testing.T, total int, start func(t *testing.T, addr, group, topic string, seen *seenSet) (stop func())) {
	n := startNode(t, "", groupSettings)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 12, nil)
	produceN(t, n.addr, topic, 0, total/2)
	seen := newSeenSet()
	stopA := start(t, n.addr, "g", topic, seen)
	eventually(t, 30*time.Second, "first member consuming", func() bool { return seen.distinct() > 0 })
	stopB := start(t, n.addr, "g", topic, seen)
	stopC := start(t, n.addr, "g", topic, seen)
	eventually(t, 60*time.Second, "half consumed", func() bool { return seen.distinct() == total/2 })
	stopA()
	produceN(t, n.addr, topic, total/2, total/2)
	eventually(t, 90*time.Second, "all consumed", func() bool { return seen.distinct() == total })
	stopB()
	stopC()
	seen.check(t, total)
}

// TestSaramaGroup: sarama group members joining and leaving mid-stream.
func TestSaramaGroup(t *testing.T) { membersComeAndGo(t, 12_000, startSaramaMember) }

// startKafkaGoMember runs a member through kafka-go's ConsumerGroup API:
// per generation, one reader per assigned partition, committing what it
// read when the generation ends (a rebalance starts). kafka-go waits for
// those functions before it rejoins, so this is commit before revoke.
func startKafkaGoMember(t *testing.T, addr, group, topic string, seen *seenSet) (stop func()) {
	t.Helper()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: []string{addr}, Topics: []string{topic},
		StartOffset: kafka.FirstOffset, HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			gen, err := cg.Next(ctx)
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			if err != nil {
				// Retriable (a coordinator loading, a rebalance): kafka-go's
				// own Reader logs these and calls Next again.
				t.Logf("kafka-go next generation: %v", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			for _, a := range gen.Assignments[topic] {
				partition, offset := a.ID, a.Offset
				gen.Start(func(ctx context.Context) {
					r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition,
						MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond})
					defer r.Close()
					if err := r.SetOffset(offset); err != nil {
						t.Errorf("kafka-go set offset: %v", err)
						return
					}
					next := offset
					for {
						m, err := r.ReadMessage(ctx)
						if err != nil {
							break // the generation ended
						}
						seen.add(string(m.Value))
						next = m.Offset + 1
					}
					if next != offset {
						if err := gen.CommitOffsets(map[string]map[int]int64{topic: {partition: next}}); err != nil {
							t.Errorf("kafka-go commit at the end of a generation: %v", err)
						}
					}
				})
			}
		}
	}()
	return func() {
		cancel()
		cg.Close()
		<-done
	}
}

// TestKafkaGoGroup: kafka-go group members joining and leaving mid-stream.
func TestKafkaGoGroup(t *testing.T) { membersComeAndGo(t, 6_000, startKafkaGoMember) }
