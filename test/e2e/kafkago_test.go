package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

func kafkaGoCodec(name string) compress.Compression {
	switch name {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

// headerPartition sends each message to the partition its idx header
// names, so the checker knows where every record belongs.
type headerPartition struct{ partitions int }

func (b headerPartition) Balance(msg kafka.Message, _ ...int) int {
	for _, h := range msg.Headers {
		if h.Key == "idx" {
			i, _ := strconv.Atoi(string(h.Value))
			return i % b.partitions
		}
	}
	return 0
}

// TestKafkaGoRoundTrip produces numbered records with kafka-go's Writer
// (acks=all) with each codec and consumes them back with one Reader per
// partition.
func TestKafkaGoRoundTrip(t *testing.T) {
	n := startNode(t, "", nil)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			const partitions = 3
			topic := topicName(t)
			createTopic(t, n.addr, topic, partitions, nil)
			count := roundTripRecords()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			// A transport per writer: kafka-go's shared default transport
			// caches metadata and does not know topics created meanwhile.
			transport := &kafka.Transport{}
			defer transport.CloseIdleConnections()
			w := &kafka.Writer{
				Transport:    transport,
				Addr:         kafka.TCP(n.addr),
				Topic:        topic,
				Balancer:     headerPartition{partitions},
				RequiredAcks: kafka.RequireAll,
				Compression:  kafkaGoCodec(codec),
				BatchSize:    1000,
				BatchTimeout: 5 * time.Millisecond,
			}
			msgs := make([]kafka.Message, 0, 1000)
			flush := func() {
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					t.Fatalf("produce: %v", err)
				}
				msgs = msgs[:0]
			}
			for i := range count {
				r := makeRecord(i, partitions, "kafka-go")
				m := kafka.Message{Key: []byte(r.Key), Value: []byte(r.Value), Time: r.Time}
				m.Headers = append(m.Headers, kafka.Header{Key: "idx", Value: []byte(r.Headers["idx"])},
					kafka.Header{Key: "client", Value: []byte(r.Headers["client"])})
				msgs = append(msgs, m)
				if len(msgs) == cap(msgs) {
					flush()
				}
			}
			if len(msgs) > 0 {
				flush()
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			chk := newChecker(t, count, partitions, "kafka-go")
			for p := range partitions {
				rd := kafka.NewReader(kafka.ReaderConfig{
					Brokers: []string{n.addr}, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 4 << 20,
					MaxWait: 100 * time.Millisecond,
				})
				want := count / partitions
				if p < count%partitions {
					want++
				}
				for got := 0; got < want; got++ {
					m, err := rd.ReadMessage(ctx)
					if err != nil {
						rd.Close()
						t.Fatalf("partition %d after %d of %d records: %v", p, got, want, err)
					}
					h := map[string]string{}
					for _, x := range m.Headers {
						h[x.Key] = string(x.Value)
					}
					chk.add(int32(m.Partition), m.Offset, string(m.Key), string(m.Value), h, m.Time)
				}
				rd.Close()
			}
			chk.finish()
		})
	}
}
