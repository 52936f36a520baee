package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProduceManyPartitions sends Produce requests to more partitions than
// the broker spreads over several goroutines (64): every partition gets its
// own answer in request order, errors stay with their partitions, and a
// partition named twice keeps its batches in order.
func TestProduceManyPartitions(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	const parts = 100
	createTopic(t, n.addr, topic, parts, nil)
	cl := franzClient(t, n.addr)

	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	add := func(rt *kmsg.ProduceRequestTopic, p int32, records int) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, buildBatch(t, records, 10)
		rt.Partitions = append(rt.Partitions, rp)
	}
	for p := range int32(parts) {
		add(&rt, p, 2)
	}
	add(&rt, parts, 2) // past the last partition
	add(&rt, -1, 2)
	add(&rt, 5, 3) // partition 5 again: after its first batch
	missing := kmsg.NewProduceRequestTopic()
	missing.Topic = topic + "-missing"
	for p := range int32(70) {
		add(&missing, p, 1)
	}
	req.Topics = append(req.Topics, rt, missing)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != parts+3 || len(resp.Topics[1].Partitions) != 70 {
		t.Fatalf("got %d topics, want 2 with %d and 70 partitions: %+v", len(resp.Topics), parts+3, resp.Topics)
	}
	for i, sp := range resp.Topics[0].Partitions {
		want := rt.Partitions[i].Partition
		wantErr, wantOff := int16(0), int64(0)
		switch {
		case want < 0 || want >= parts:
			wantErr, wantOff = kerr.UnknownTopicOrPartition.Code, -1
		case i == parts+2:
			wantOff = 2
		}
		if sp.Partition != want || sp.ErrorCode != wantErr || sp.BaseOffset != wantOff {
			t.Errorf("answer %d: got partition %d error %d offset %d, want %d, %d, %d",
				i, sp.Partition, sp.ErrorCode, sp.BaseOffset, want, wantErr, wantOff)
		}
	}
	for i, sp := range resp.Topics[1].Partitions {
		if sp.Partition != int32(i) || sp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("missing topic, answer %d: got partition %d error %d, want %d and UNKNOWN_TOPIC_OR_PARTITION",
				i, sp.Partition, sp.ErrorCode, i)
		}
	}

	// A franz-go producer spreading records over every partition.
	pr := franzClient(t, n.addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(50*time.Millisecond))
	const perPart = 10
	for i := range parts * perPart {
		pr.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte{byte(i)}}, nil)
	}
	if err := pr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		want := int64(2 + perPart)
		if o.Partition == 5 {
			want += 3
		}
		if o.Err != nil || o.Offset != want {
			t.Errorf("partition %d: got end offset %d (%v), want %d", o.Partition, o.Offset, o.Err, want)
		}
	})
}
