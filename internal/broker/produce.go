package broker

// Produce (key 0), versions 3-12, advertised as 0-12.
//
// Behavior:
//   - Versions 0-2 carry the old message formats and are answered
//     UNSUPPORTED_VERSION per partition. They are still listed in
//     ApiVersions because librdkafka 2.0 compresses with gzip, snappy and lz4
//     only when the broker lists Produce v0 (librdkafka#4956); Apache Kafka
//     4.0 does the same (KAFKA-18659).
//   - Each partition's records must be exactly one magic-2 batch (as Kafka
//     requires from v3); it is validated (framing, CRC, record count and
//     offsets, keys on compacted topics, size against max.message.bytes,
//     timestamps against message.timestamp.before/after.max.ms) and appended
//     as it was sent, unless the topic's compression.type names another
//     codec: then its records are re-encoded with that codec. Only the base offset and leader epoch (outside the CRC),
//     and for LogAppendTime topics the timestamps, are rewritten.
//   - acks must be -1, 0 or 1 (INVALID_REQUIRED_ACKS); acks=0 gets no
//     response. acks=-1 fails with NOT_ENOUGH_REPLICAS when the ISR is smaller
//     than min.insync.replicas.
//   - Idempotent producers: sequence and epoch checks in internal/txn; a
//     retried batch gets its original offset back.
//   - Produce does not create topics; a missing topic is UNKNOWN_TOPIC_OR_PARTITION.
//   - Clients cannot write to internal topics (INVALID_TOPIC_EXCEPTION).
//   - Transactional produce is not served yet (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
//
// KIPs: KIP-74, KIP-98 (v3 transactional id, magic 2), KIP-467 (v8 record
// errors), KIP-482 (v9 flexible).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/recordbatch"
)

func init() { register(0, 0, 12, (*Broker).handleProduce) }

func (b *Broker) handleProduce(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	img := b.store.Current()
	var scratch []byte
	for _, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		t, known := img.Topic(rt.Topic)
		var cfg config.Topic
		var cfgErr error
		if known {
			cfg, cfgErr = b.parts.topicConfig(t)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			var err error
			switch {
			case req.Version < 3:
				err = kerr.UnsupportedVersion
			case r.TransactionID != nil:
				err = kerr.TransactionalIDAuthorizationFailed
			case r.Acks != -1 && r.Acks != 0 && r.Acks != 1:
				err = kerr.InvalidRequiredAcks
			case !known:
				err = kerr.UnknownTopicOrPartition
			case isInternalTopic(rt.Topic):
				err = fmt.Errorf("%w: cannot append to internal topic %s", kerr.InvalidTopicException, rt.Topic)
			case cfgErr != nil:
				err = cfgErr
			default:
				err = b.producePartition(t, cfg, rp, r.Acks, &sp, &scratch)
			}
			if err != nil {
				sp.ErrorCode = b.errorCode(err)
				sp.ErrorMessage = errorMessage(err)
				b.metrics.produceErrors.Inc()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if r.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

// producePartition validates and appends one partition's batch and fills in
// the response's offsets.
func (b *Broker) producePartition(t *metadata.Topic, cfg config.Topic, rp kmsg.ProduceRequestTopicPartition,
	acks int16, sp *kmsg.ProduceResponseTopicPartition, scratch *[]byte) error {
	if rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition
	}
	p, err := b.parts.get(t.Name, rp.Partition)
	if err != nil {
		return err
	}
	if acks == -1 && int32(len(t.Partitions[rp.Partition].ISR)) < cfg.MinInsyncReplicas {
		return kerr.NotEnoughReplicas
	}
	batch := rp.Records
	if len(batch) == 0 {
		return fmt.Errorf("%w: produce request without records", kerr.InvalidRecord)
	}
	h, err := recordbatch.ReadHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() < int64(len(batch)) {
		return fmt.Errorf("%w: produce requests carry exactly one record batch per partition", kerr.InvalidRecord)
	}
	if int64(len(batch)) > int64(cfg.MaxMessageBytes) {
		return fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(batch), cfg.MaxMessageBytes)
	}
	info, err := recordbatch.Validate(batch, recordbatch.ValidateOptions{RequireKeys: cfg.CleanupCompact}, scratch)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	appendTime := int64(-1)
	if cfg.LogAppendTime {
		appendTime = now
	} else if err := checkTimestamps(info, now, cfg); err != nil {
		return err
	}
	if c, ok := topicCodec(cfg.CompressionType); ok && c != info.Header.Codec() && !info.Header.Control() {
		if batch, err = recordbatch.Recompress(batch, c, scratch); err != nil {
			return err
		}
		if info.Header, err = recordbatch.ReadHeader(batch); err != nil {
			return err
		}
	}
	res, err := p.Append(batch, info.Header, appendTime)
	if err != nil {
		return err
	}
	b.metrics.producedBytes.Add(float64(len(batch)))
	b.metrics.producedRecords.Add(float64(info.Header.NumRecords))
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	return nil
}

// checkTimestamps enforces message.timestamp.before.max.ms and
// message.timestamp.after.max.ms on CreateTime topics (KIP-937) for every
// record of the batch, through its smallest and largest timestamps.
func checkTimestamps(info recordbatch.Info, now int64, cfg config.Topic) error {
	if info.MinTimestamp >= 0 && now-info.MinTimestamp > cfg.TimestampBeforeMaxMs {
		return fmt.Errorf("%w: timestamp %d is more than message.timestamp.before.max.ms=%d before the broker's time",
			kerr.InvalidTimestamp, info.MinTimestamp, cfg.TimestampBeforeMaxMs)
	}
	if info.MaxTimestamp >= 0 && info.MaxTimestamp-now > cfg.TimestampAfterMaxMs {
		return fmt.Errorf("%w: timestamp %d is more than message.timestamp.after.max.ms=%d after the broker's time",
			kerr.InvalidTimestamp, info.MaxTimestamp, cfg.TimestampAfterMaxMs)
	}
	return nil
}

// topicCodec is the codec a topic's compression.type imposes, if any
// ("producer" keeps the producer's).
func topicCodec(compressionType string) (recordbatch.Codec, bool) {
	switch compressionType {
	case "uncompressed":
		return recordbatch.CodecNone, true
	case "gzip":
		return recordbatch.CodecGzip, true
	case "snappy":
		return recordbatch.CodecSnappy, true
	case "lz4":
		return recordbatch.CodecLZ4, true
	case "zstd":
		return recordbatch.CodecZstd, true
	}
	return 0, false
}
