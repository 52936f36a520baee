package e2e

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/cli"
)

// benchNode starts a node with the given broker settings for a benchmark
// and stops it at the end.
func benchNode(b *testing.B, settings map[string]string) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := cli.StartNode(ctx, cli.ServeOptions{DataDir: b.TempDir(), Listen: "127.0.0.1:0", Admin: "127.0.0.1:0",
		NodeID: 1, Settings: settings}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); n.Wait() })
	return n.KafkaAddr.String()
}

// randomValue is 1 KiB that no codec shrinks.
func randomValue() []byte {
	v := make([]byte, 1024)
	rand.Read(v)
	return v
}

func benchTopic(b *testing.B, addr, topic string) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 6, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProduce1KiB: franz-go producing 1 KiB records to 6 partitions,
// acks=all, no compression, client and broker in one process; with the
// default flush policy and with every batch fsynced before it is
// acknowledged (log.flush.interval.messages=1).
func BenchmarkProduce1KiB(b *testing.B) {
	b.Run("flush=default", func(b *testing.B) { benchProduce(b, nil) })
	b.Run("flush=every-batch", func(b *testing.B) {
		benchProduce(b, map[string]string{"log.flush.interval.messages": "1"})
	})
}

func benchProduce(b *testing.B, settings map[string]string) {
	addr := benchNode(b, settings)
	benchTopic(b, addr, "bench")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("bench"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := randomValue()
	ctx := context.Background()
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkConsume1KiB: franz-go reading back b.N 1 KiB records written
// beforehand (catch-up read).
func BenchmarkConsume1KiB(b *testing.B) {
	addr := benchNode(b, nil)
	benchTopic(b, addr, "bench")
	ctx := context.Background()
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("bench"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	value := randomValue()
	for range b.N {
		p.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	p.Close()
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	for got := 0; got < b.N; {
		got += c.PollFetches(ctx).NumRecords()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
