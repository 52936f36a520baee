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
// must be consumed exactly once overall, or, for a client without a hook to
// commit before its partitions are revoked, at least once with at most
// maxDups duplicates (records it had buffered before a rebalance).
func membersComeAndGo(t *testing.T, total, maxDups int, start func(t *testing.T, addr, group, topic string, seen *seenSet) (stop func())) {
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
	seen.checkAtLeastOnce(t, total, maxDups)
}

// TestSaramaGroup: sarama group members joining and leaving mid-stream.
func TestSaramaGroup(t *testing.T) { membersComeAndGo(t, 12_000, 0, startSaramaMember) }

// startKafkaGoMember runs a kafka-go group reader that counts a message as
// consumed once its offset is committed (synchronous commits), so a message
// redelivered after a rebalance is counted only by the member whose commit
// succeeded.
func startKafkaGoMember(t *testing.T, addr, group, topic string, seen *seenSet) (stop func()) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, GroupID: group, Topic: topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		StartOffset: kafka.FirstOffset, HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					t.Errorf("kafka-go fetch: %v", err)
				}
				return
			}
			if err := r.CommitMessages(ctx, m); err == nil {
				seen.add(string(m.Value))
			}
		}
	}()
	return func() {
		cancel()
		<-done
		r.Close()
	}
}

// TestKafkaGoGroup: kafka-go group readers joining and leaving mid-stream.
// kafka-go has no revoke hook, and a reader may return messages it fetched
// before a rebalance; a member of the new generation may commit those (Kafka
// checks member and generation, not ownership), so a few duplicates are
// kafka-go's at-least-once, not a broker fault.
func TestKafkaGoGroup(t *testing.T) { membersComeAndGo(t, 6_000, 100, startKafkaGoMember) }
