package e2e

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaCodec(name string) sarama.CompressionCodec {
	switch name {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0 // a strict client: fails if an expected API version is missing
	cfg.ClientID = "strata-e2e-sarama"
	return cfg
}

// TestSaramaRoundTrip produces numbered records with sarama's idempotent
// async producer (acks=all) with each codec and consumes them back with its
// partition consumer.
func TestSaramaRoundTrip(t *testing.T) {
	n := startNode(t, "", nil)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			const partitions = 4
			topic := topicName(t)
			createTopic(t, n.addr, topic, partitions, nil)
			count := roundTripRecords()

			cfg := saramaConfig()
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Compression = saramaCodec(codec)
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Idempotent = true
			cfg.Net.MaxOpenRequests = 1
			cfg.Producer.Return.Successes = true
			cfg.Producer.Flush.Frequency = 5 * time.Millisecond
			producer, err := sarama.NewAsyncProducer([]string{n.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				acked := 0
				for acked < count {
					select {
					case <-producer.Successes():
						acked++
					case perr := <-producer.Errors():
						done <- perr
						return
					}
				}
				done <- nil
			}()
			for i := range count {
				r := makeRecord(i, partitions, "sarama")
				msg := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition,
					Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value), Timestamp: r.Time}
				for k, v := range r.Headers {
					msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
				}
				producer.Input() <- msg
			}
			if err := <-done; err != nil {
				t.Fatalf("produce: %v", err)
			}
			if err := producer.Close(); err != nil {
				t.Fatal(err)
			}

			consumer, err := sarama.NewConsumer([]string{n.addr}, saramaConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer consumer.Close()
			chk := newChecker(t, count, partitions, "sarama")
			timeout := time.After(2 * time.Minute)
			for p := range int32(partitions) {
				pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					t.Fatal(err)
				}
				want := count / partitions
				if int(p) < count%partitions {
					want++
				}
				for got := 0; got < want; got++ {
					select {
					case m := <-pc.Messages():
						h := map[string]string{}
						for _, x := range m.Headers {
							h[string(x.Key)] = string(x.Value)
						}
						chk.add(m.Partition, m.Offset, string(m.Key), string(m.Value), h, m.Timestamp)
					case cerr := <-pc.Errors():
						t.Fatalf("consume partition %d: %v", p, cerr)
					case <-timeout:
						t.Fatalf("partition %d: timed out after %d of %d records", p, got, want)
					}
				}
				pc.Close()
			}
			chk.finish()
		})
	}
}
