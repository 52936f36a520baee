package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/wire"
)

// BenchmarkProducePath serves produce request frames through the dispatcher
// and broker, without a network: header and body decoding, validation,
// append, response encoding. allocs/op is per request; that it stays flat
// as records per batch grow shows no allocation per record.
func BenchmarkProducePath(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := broker.New(broker.Config{NodeID: 1, DataDir: b.TempDir(), Advertise: "127.0.0.1:9092",
		Settings: config.DefaultBroker(), Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	<-br.Ready()
	d := wire.NewDispatcher(br, logger, nil)
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "bench", 1, 1
	create.Topics = append(create.Topics, ct)
	if _, err := br.Handle(ctx, &broker.Request{Key: 19, Version: 7, Body: create}); err != nil {
		b.Fatal(err)
	}

	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			recs := make([]recordbatch.Record, n)
			for i := range recs {
				recs[i] = recordbatch.Record{Value: make([]byte, 1024)}
			}
			batch, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1}, recs)
			if err != nil {
				b.Fatal(err)
			}
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis = 1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "bench"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			req.SetVersion(9)
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)[4:]
			conn := &broker.ConnInfo{}
			var out wire.Frame
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				// The broker keeps nothing of the frame after Serve: the
				// batch bytes were written to the log (and their base offset
				// patched in place, harmlessly, before the next append).
				if out, err = d.Serve(ctx, conn, frame, out.Bytes[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
