package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func franzCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// TestFranzRoundTrip produces numbered records with franz-go (idempotent,
// acks=all, the default) with each codec and consumes them back.
func TestFranzRoundTrip(t *testing.T) {
	n := startNode(t, "", nil)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			const partitions = 6
			topic := topicName(t)
			createTopic(t, n.addr, topic, partitions, nil)
			count := roundTripRecords()
			producer := franzClient(t, n.addr,
				kgo.DefaultProduceTopic(topic),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerBatchCompression(franzCodec(codec)),
				kgo.ProducerLinger(5*time.Millisecond),
			)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			errs := make(chan error, 1)
			for i := range count {
				r := makeRecord(i, partitions, "franz-go")
				rec := &kgo.Record{Partition: r.Partition, Key: []byte(r.Key), Value: []byte(r.Value), Timestamp: r.Time}
				for k, v := range r.Headers {
					rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
				}
				producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			}
			if err := producer.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errs:
				t.Fatalf("produce: %v", err)
			default:
			}

			chk := newChecker(t, count, partitions, "franz-go")
			offsets := map[int32]kgo.Offset{}
			for p := range int32(partitions) {
				offsets[p] = kgo.NewOffset().AtStart()
			}
			consumer := franzClient(t, n.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
			for !chk.done() && ctx.Err() == nil {
				fetches := consumer.PollFetches(ctx)
				for _, fe := range fetches.Errors() {
					if fe.Err != context.DeadlineExceeded {
						t.Fatalf("fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
					}
				}
				fetches.EachRecord(func(r *kgo.Record) {
					h := map[string]string{}
					for _, x := range r.Headers {
						h[x.Key] = string(x.Value)
					}
					chk.add(r.Partition, r.Offset, string(r.Key), string(r.Value), h, r.Timestamp)
				})
			}
			chk.finish()
		})
	}
}
