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

func fetchReq(id [16]byte, topic string, offset int64, sessionID, epoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 0, 1<<20
	req.SessionID, req.SessionEpoch = sessionID, epoch
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestFetchSessions walks a KIP-227 session: open, incremental with and
// without news, wrong epoch, unknown id, close.
func TestFetchSessions(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := franzClient(t, n.addr)
	ctx := context.Background()
	id := topicID(t, cl, topic)
	if err, _ := produceRaw(t, cl, topic, buildBatch(t, 3, 10)); err != nil {
		t.Fatal(err)
	}

	resp, err := fetchReq(id, topic, 0, 0, 0).RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || resp.SessionID == 0 {
		t.Fatalf("open session: %v, error %d, session %d", err, resp.ErrorCode, resp.SessionID)
	}
	sid := resp.SessionID
	if got := len(resp.Topics[0].Partitions[0].RecordBatches); got == 0 {
		t.Fatal("full fetch returned no records")
	}
	// Incremental, position moved to the end: nothing new, so no partitions.
	resp, err = fetchReq(id, topic, 3, sid, 1).RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("incremental: %v, error %d", err, resp.ErrorCode)
	}
	if len(resp.Topics) != 0 {
		t.Fatalf("incremental without news returned %d topics, want 0", len(resp.Topics))
	}
	// New data: the partition comes back without being asked for again.
	if err, _ := produceRaw(t, cl, topic, buildBatch(t, 2, 10)); err != nil {
		t.Fatal(err)
	}
	req := fetchReq(id, topic, 3, sid, 2)
	req.Topics = nil
	resp, err = req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].HighWatermark != 5 {
		t.Fatalf("incremental with news: %v, %+v", err, resp.Topics)
	}
	// Wrong epoch, unknown session.
	if resp, _ = fetchReq(id, topic, 5, sid, 9).RequestWith(ctx, cl); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Errorf("wrong epoch: got error %d, want INVALID_FETCH_SESSION_EPOCH", resp.ErrorCode)
	}
	if resp, _ = fetchReq(id, topic, 5, sid+1000, 1).RequestWith(ctx, cl); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("unknown session: got error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
	// Close with the final epoch; the id is then unknown.
	if resp, _ = fetchReq(id, topic, 5, sid, -1).RequestWith(ctx, cl); resp.ErrorCode != 0 || resp.SessionID != 0 {
		t.Errorf("close: got error %d session %d, want 0 and 0", resp.ErrorCode, resp.SessionID)
	}
	if resp, _ = fetchReq(id, topic, 5, sid, 3).RequestWith(ctx, cl); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("closed session: got error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
}

// TestLongPoll checks that a fetch waiting for MinBytes returns as soon as
// data arrives, and returns empty at MaxWait otherwise.
func TestLongPoll(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := franzClient(t, n.addr)
	id := topicID(t, cl, topic)

	req := fetchReq(id, topic, 0, 0, -1)
	req.MaxWaitMillis, req.MinBytes = 200, 1
	start := time.Now()
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("empty long poll returned after %v, want about MaxWait (200ms)", el)
	}
	if len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatal("records from an empty partition")
	}

	req = fetchReq(id, topic, 0, 0, -1)
	req.MaxWaitMillis, req.MinBytes = 30_000, 1
	done := make(chan *kmsg.FetchResponse, 1)
	go func() {
		resp, err := req.RequestWith(context.Background(), franzClient(t, n.addr))
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	// With MinBytes 1 on an empty partition the fetch can only return
	// early by seeing this produce; otherwise it would wait out MaxWait.
	if err, _ := produceRaw(t, cl, topic, buildBatch(t, 1, 10)); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-done:
		if resp == nil || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatal("parked fetch returned without the produced records")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked fetch did not wake on produce")
	}
}

// TestListOffsets checks earliest, latest, by timestamp and max timestamp.
func TestListOffsets(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic))
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, d := range []time.Duration{0, 10, 5, 20} { // timestamps out of order: max is offset 3
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(d * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	check := func(what string, got kadm.ListedOffsets, err error, wantOffset int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		o, ok := got.Lookup(topic, 0)
		if !ok || o.Err != nil || o.Offset != wantOffset {
			t.Errorf("%s: got %+v, want offset %d", what, o, wantOffset)
		}
	}
	got, err := adm.ListStartOffsets(ctx, topic)
	check("earliest", got, err, 0)
	got, err = adm.ListEndOffsets(ctx, topic)
	check("latest", got, err, 4)
	got, err = adm.ListOffsetsAfterMilli(ctx, base.Add(7*time.Second).UnixMilli(), topic)
	check("after +7s", got, err, 1)
	got, err = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), topic)
	check("after the last timestamp", got, err, 4) // kadm maps "none" to the end offset

	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = -3, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.Offset != 3 || p.Timestamp != base.Add(20*time.Second).UnixMilli() {
		t.Errorf("max timestamp: got offset %d ts %d, want 3 and %d", p.Offset, p.Timestamp, base.Add(20*time.Second).UnixMilli())
	}
}

// idempotentProducer starts a node with settings and a one-partition topic,
// gets a producer id and returns a builder of that producer's batches: two
// records of valueSize bytes from sequence seq.
func idempotentProducer(t *testing.T, settings map[string]string, valueSize int) (n *node, cl *kgo.Client, topic string, batch func(seq int32) []byte) {
	t.Helper()
	n = startNode(t, "", settings)
	topic = topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl = franzClient(t, n.addr)
	ip, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(context.Background(), cl)
	if err != nil || ip.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %d", err, ip.ErrorCode)
	}
	return n, cl, topic, func(seq int32) []byte {
		b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(),
			ProducerID: ip.ProducerID, ProducerEpoch: ip.ProducerEpoch, BaseSequence: seq},
			[]recordbatch.Record{{Value: make([]byte, valueSize)}, {OffsetDelta: 1, Value: make([]byte, valueSize)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestIdempotentDuplicate sends the same idempotent batch twice: the second
// gets the first's offset and is not appended again. A gap in sequence is
// OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestIdempotentDuplicate(t *testing.T) {
	_, cl, topic, batch := idempotentProducer(t, nil, 1)
	if err, off := produceRaw(t, cl, topic, batch(0)); err != nil || off != 0 {
		t.Fatalf("first: %v at %d", err, off)
	}
	if err, off := produceRaw(t, cl, topic, batch(0)); err != nil || off != 0 {
		t.Fatalf("duplicate: got %v at %d, want success at 0", err, off)
	}
	if err, _ := produceRaw(t, cl, topic, batch(5)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("gap: got %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
	if err, off := produceRaw(t, cl, topic, batch(2)); err != nil || off != 2 {
		t.Fatalf("next: got %v at %d, want success at 2", err, off)
	}
}

// TestIdempotenceSurvivesRestart: after a clean restart an idempotent
// producer's retry is still answered with its original offset, also for a
// batch DeleteRecords removed (Kafka keeps such a producer's state until it
// expires; the log alone no longer holds it, the stop's state snapshot
// does), and its next sequence is accepted.
func TestIdempotenceSurvivesRestart(t *testing.T) {
	// Records of 400 KiB: the three batches pass the 1 MiB after which a
	// clean stop writes a state snapshot.
	n, cl, topic, batch := idempotentProducer(t, nil, 400<<10)
	ctx := context.Background()
	for seq := int32(0); seq < 6; seq += 2 {
		if err, off := produceRaw(t, cl, topic, batch(seq)); err != nil || off != int64(seq) {
			t.Fatalf("sequence %d: %v at %d", seq, err, off)
		}
	}
	adm := kadm.NewClient(cl)
	del, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {At: 4}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete records before 4: %v %v", err, del.Error())
	}
	cl.Close()
	n.stop()

	n2 := startNode(t, n.dataDir, nil)
	cl = franzClient(t, n2.addr)
	for _, seq := range []int32{0, 4} {
		if err, off := produceRaw(t, cl, topic, batch(seq)); err != nil || off != int64(seq) {
			t.Fatalf("retry of sequence %d after the restart: %v at %d, want success at %d", seq, err, off, seq)
		}
	}
	if err, off := produceRaw(t, cl, topic, batch(6)); err != nil || off != 6 {
		t.Fatalf("next sequence after the restart: %v at %d, want success at 6", err, off)
	}
	if err, _ := produceRaw(t, cl, topic, batch(10)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("gap after the restart: got %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
}

// TestProducerIDExpiration: with producer.id.expiration.ms set, a
// producer idle that long is forgotten, so a batch after a sequence gap,
// OUT_OF_ORDER_SEQUENCE_NUMBER while it is known, is then appended.
func TestProducerIDExpiration(t *testing.T) {
	_, cl, topic, batch := idempotentProducer(t, map[string]string{
		"producer.id.expiration.ms":                "50",
		"producer.id.expiration.check.interval.ms": "10",
	}, 1)
	if err, off := produceRaw(t, cl, topic, batch(0)); err != nil || off != 0 {
		t.Fatalf("first: %v at %d", err, off)
	}
	if err, _ := produceRaw(t, cl, topic, batch(7)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("gap while the producer is known: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
	eventually(t, 10*time.Second, "the idle producer id to expire", func() bool {
		err, off := produceRaw(t, cl, topic, batch(7))
		if err != nil && !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
			t.Fatalf("gap: %v", err)
		}
		return err == nil && off == 2
	})
}

// TestAutoCreate checks topic creation by Metadata, and that it is off when
// the broker setting says so.
func TestAutoCreate(t *testing.T) {
	n := startNode(t, "", map[string]string{"num.partitions": "3"})
	cl := franzClient(t, n.addr, kgo.AllowAutoTopicCreation())
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("auto-created")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if tp := resp.Topics[0]; tp.ErrorCode != 0 || len(tp.Partitions) != 3 || tp.Partitions[0].Leader != 1 {
		t.Fatalf("got %+v, want the topic with 3 partitions led by node 1", tp)
	}

	off := startNode(t, "", map[string]string{"auto.create.topics.enable": "false"})
	resp, err = req.RequestWith(context.Background(), franzClient(t, off.addr))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-create off: got error %d, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics[0].ErrorCode)
	}
}

// TestRestartKeepsData restarts a node (clean shutdown) and reads back
// topics, configs and records.
func TestRestartKeepsData(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, map[string]*string{"retention.ms": kmsg.StringPtr("123456789")})
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic))
	for i := range 100 {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	n.stop()

	n2 := startNode(t, n.dataDir, nil)
	adm := kadm.NewClient(franzClient(t, n2.addr))
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 100 {
		t.Fatalf("after restart: %d records, want 100", total)
	}
	rc, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range c.Configs {
		if e.Key == "retention.ms" && e.Value != nil && *e.Value == "123456789" {
			found = true
		}
	}
	if !found {
		t.Fatal("retention.ms override lost over restart")
	}
}
