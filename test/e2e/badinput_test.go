package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/recordbatch"
)

// rawRequest sends one frame on a fresh connection and returns the response
// frame, or io.EOF when the broker closed the connection instead.
func rawRequest(t *testing.T, addr string, frame []byte) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err = io.ReadFull(c, resp)
	return resp, err
}

// frameOf builds a request frame with header v1 (api key, version,
// correlation id 7, client id "raw") around body.
func frameOf(key, version int16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "raw"...)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestBadFrames checks that malformed or unwanted frames close the
// connection (Kafka's answer) and leave the broker serving others.
func TestBadFrames(t *testing.T) {
	n := startNode(t, "", map[string]string{"socket.request.max.bytes": "1048576"})
	tests := []struct {
		name  string
		frame []byte
	}{
		{"frame above socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, 2<<20)},
		{"negative frame size", binary.BigEndian.AppendUint32(nil, 0xffffff00)},
		{"header cut short", append(binary.BigEndian.AppendUint32(nil, 3), 0, 1, 2)},
		{"client id longer than frame", append(binary.BigEndian.AppendUint32(nil, 10), 0, 3, 0, 0, 0, 0, 0, 1, 0x7f, 0)},
		{"unknown api key", frameOf(9999, 0, nil)},
		{"unsupported fetch version", frameOf(1, 3, nil)},
		{"truncated metadata body", frameOf(3, 1, []byte{0, 0, 0, 5})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rawRequest(t, n.addr, tt.frame); err == nil {
				t.Fatalf("got a response, want the connection closed")
			}
		})
	}
	// The broker still serves.
	cl := franzClient(t, n.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatalf("metadata after bad frames: %v", err)
	}
}

// TestAPIVersionsUnsupported checks Kafka's fallback (KIP-511): an
// ApiVersions request newer than we serve is answered in v0 with
// UNSUPPORTED_VERSION and ApiVersions' own range, for the client's retry.
func TestAPIVersionsUnsupported(t *testing.T) {
	n := startNode(t, "", nil)
	resp, err := rawRequest(t, n.addr, frameOf(18, 99, nil))
	if err != nil {
		t.Fatal(err)
	}
	av := kmsg.NewPtrApiVersionsResponse()
	av.SetVersion(0)
	if err := av.ReadFrom(resp[4:]); err != nil {
		t.Fatal(err)
	}
	if av.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("got error code %d, want UNSUPPORTED_VERSION", av.ErrorCode)
	}
	if len(av.ApiKeys) != 1 || av.ApiKeys[0].ApiKey != 18 || av.ApiKeys[0].MaxVersion != 4 {
		t.Errorf("got api keys %+v, want only ApiVersions 0-4", av.ApiKeys)
	}
}

// TestOldProduceVersions checks that Produce v0-2 (old message formats) are
// listed in ApiVersions, as librdkafka needs, but answered UNSUPPORTED_VERSION.
func TestOldProduceVersions(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = buildBatch(t, 1, 10)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 7)
		raw, err := rawRequest(t, n.addr, frame)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(v)
		if err := resp.ReadFrom(raw[4:]); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedVersion.Code {
			t.Errorf("v%d: got error %d, want UNSUPPORTED_VERSION", v, code)
		}
	}
}

// produceRaw sends one batch to topic/partition 0 and returns the partition
// error and base offset.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, batch []byte) (error, int64) {
	t.Helper()
	return produceRawTo(t, cl, topic, 0, batch)
}

// produceRawTo is produceRaw to the given partition.
func produceRawTo(t *testing.T, cl *kgo.Client, topic string, partition int32, batch []byte) (error, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return kerr.ErrorForCode(p.ErrorCode), p.BaseOffset
}

func buildBatch(t *testing.T, n int, valueSize int) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: make([]byte, valueSize)}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadBatches checks the answers to bad record batches and that the log
// is left intact: a good batch after them lands at the next offset.
func TestBadBatches(t *testing.T) {
	n := startNode(t, "", map[string]string{"auto.create.topics.enable": "false"})
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("2000")})
	compacted := topic + "-compacted"
	createTopic(t, n.addr, compacted, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
	cl := franzClient(t, n.addr)

	if err, off := produceRaw(t, cl, topic, buildBatch(t, 2, 10)); err != nil || off != 0 {
		t.Fatalf("good batch: got %v at %d, want success at 0", err, off)
	}
	badCRC := buildBatch(t, 2, 10)
	badCRC[len(badCRC)-1] ^= 0xff
	badMagic := buildBatch(t, 1, 10)
	badMagic[16] = 1
	truncated := buildBatch(t, 3, 10)
	truncated = truncated[:len(truncated)-5]
	twoBatches := append(buildBatch(t, 1, 10), buildBatch(t, 1, 10)...)
	noKey := buildBatch(t, 1, 10)
	{
		recs := []recordbatch.Record{{Value: []byte("v")}}
		b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1}, recs)
		if err != nil {
			t.Fatal(err)
		}
		noKey = b
	}
	tests := []struct {
		name  string
		topic string
		batch []byte
		want  *kerr.Error
	}{
		{"bad crc", topic, badCRC, kerr.CorruptMessage},
		{"bad magic", topic, badMagic, kerr.UnsupportedForMessageFormat},
		{"truncated batch", topic, truncated, kerr.CorruptMessage},
		{"two batches in one partition", topic, twoBatches, kerr.InvalidRecord},
		{"above max.message.bytes", topic, buildBatch(t, 3, 1000), kerr.MessageTooLarge},
		{"no key on a compacted topic", compacted, noKey, kerr.InvalidRecord},
		{"missing topic, auto-create off", "no-such-topic", buildBatch(t, 1, 10), kerr.UnknownTopicOrPartition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, _ := produceRaw(t, cl, tt.topic, tt.batch)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err, off := produceRaw(t, cl, topic, buildBatch(t, 1, 10)); err != nil || off != 2 {
		t.Fatalf("good batch after bad ones: got %v at %d, want success at 2", err, off)
	}
}

// TestFetchOutOfRange checks OFFSET_OUT_OF_RANGE past the end and before the
// log start.
func TestFetchOutOfRange(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, nil)
	cl := franzClient(t, n.addr)
	if err, _ := produceRaw(t, cl, topic, buildBatch(t, 5, 10)); err != nil {
		t.Fatal(err)
	}
	id := topicID(t, cl, topic)
	for _, off := range []int64{6, 1000, -5} {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 0
		req.SessionEpoch = -1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = off, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 5 {
			t.Errorf("fetch at %d: got error %d hw %d, want OFFSET_OUT_OF_RANGE hw 5", off, p.ErrorCode, p.HighWatermark)
		}
	}
}

// topicID looks a topic's id up through Metadata.
func topicID(t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata for %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].TopicID
}
