package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/recordbatch"
)

// firstStoredBatch fetches partition 0 from offset 0 and returns the header
// of the first batch as the broker stores it.
func firstStoredBatch(t *testing.T, cl *kgo.Client, topic string) recordbatch.Header {
	t.Helper()
	resp, err := fetchReq(topicID(t, cl, topic), topic, 0, 0, -1).RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	h, err := recordbatch.ReadHeader(p.RecordBatches)
	if err != nil {
		t.Fatalf("stored batch: %v (error code %d)", err, p.ErrorCode)
	}
	return h
}

// TestTopicConfigsEnforced checks compression.type, message.timestamp.type
// and the timestamp bounds through real produce and fetch.
func TestTopicConfigsEnforced(t *testing.T) {
	n := startNode(t, "", nil)
	ctx := context.Background()
	base := topicName(t)

	t.Run("compression.type recompresses", func(t *testing.T) {
		topic := base + "-zstd"
		createTopic(t, n.addr, topic, 1, map[string]*string{"compression.type": kmsg.StringPtr("zstd")})
		cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
		for i := range 10 {
			r := &kgo.Record{Key: []byte{byte(i)}, Value: []byte("value"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{byte(i)}}}}
			cl.Produce(ctx, r, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if h := firstStoredBatch(t, cl, topic); h.Codec() != recordbatch.CodecZstd {
			t.Fatalf("stored codec %v, want zstd", h.Codec())
		}
		consumer := franzClient(t, n.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := 0
		for got < 10 {
			fs := consumer.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				if r.Key[0] != byte(got) || string(r.Value) != "value" || r.Headers[0].Value[0] != byte(got) || r.Offset != int64(got) {
					t.Errorf("record %d: got key %v value %q headers %v offset %d", got, r.Key, r.Value, r.Headers, r.Offset)
				}
				got++
			})
		}
	})

	t.Run("LogAppendTime", func(t *testing.T) {
		topic := base + "-lat"
		createTopic(t, n.addr, topic, 1, map[string]*string{"message.timestamp.type": kmsg.StringPtr("LogAppendTime")})
		cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic))
		before := time.Now().Truncate(time.Millisecond)
		res := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: time.Unix(1000, 0)})
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		h := firstStoredBatch(t, cl, topic)
		if !h.LogAppendTime() || h.MaxTimestamp < before.UnixMilli() || h.MaxTimestamp > time.Now().UnixMilli() {
			t.Fatalf("stored batch: log append time %v, max timestamp %d; want broker time since %d",
				h.LogAppendTime(), h.MaxTimestamp, before.UnixMilli())
		}
	})

	t.Run("timestamp bounds", func(t *testing.T) {
		topic := base + "-bounds"
		createTopic(t, n.addr, topic, 1, map[string]*string{
			"message.timestamp.before.max.ms": kmsg.StringPtr("60000"),
			"message.timestamp.after.max.ms":  kmsg.StringPtr("60000"),
		})
		cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.RecordRetries(0))
		for _, tc := range []struct {
			name string
			ts   time.Time
			want error
		}{
			{"now", time.Now(), nil},
			{"an hour old", time.Now().Add(-time.Hour), kerr.InvalidTimestamp},
			{"an hour ahead", time.Now().Add(time.Hour), kerr.InvalidTimestamp},
		} {
			err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: tc.ts}).FirstErr()
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

// TestRetentionDeletesOldSegments rolls segments by segment.ms and lets the
// broker's retention check delete the old ones by retention.ms: the log
// start offset advances and consumers start from there.
func TestRetentionDeletesOldSegments(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.retention.check.interval.ms": "20"})
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, map[string]*string{
		"segment.ms":   kmsg.StringPtr("50"),
		"retention.ms": kmsg.StringPtr("200"),
	})
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic))
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	produce := func() {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() int64 {
		o, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := o.Lookup(topic, 0)
		return l.Offset
	}
	// Keep appending: each append after segment.ms rolls a new segment,
	// and segments whose records are older than retention.ms go.
	eventually(t, 20*time.Second, "the log start offset to advance", func() bool {
		produce()
		return start() > 0
	})
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := end.Lookup(topic, 0)
	if s := start(); s > e.Offset {
		t.Fatalf("log start %d beyond log end %d", s, e.Offset)
	}
}
