package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/controller"
	"github.com/stratalog/strata/internal/group"
	"github.com/stratalog/strata/internal/partition"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/txn"
)

// offsetsTopic holds committed offsets and group metadata, in Kafka's own
// record format, compacted, as Kafka's __consumer_offsets.
const offsetsTopic = "__consumer_offsets"

// ensureOffsetsTopic creates the offsets topic on first use, as Kafka does
// when a coordinator is first looked up.
func (b *Broker) ensureOffsetsTopic(ctx context.Context) error {
	s := b.cfg.Settings
	return b.ensureInternalTopic(ctx, internalTopic{
		name:       offsetsTopic,
		partitions: s.OffsetsTopicNumPartitions(),
		rf:         s.OffsetsTopicReplicationFactor(),
		configs: map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    strconv.Itoa(int(s.OffsetsTopicSegmentBytes())),
		},
	})
}

// internalTopic is what a coordinator's internal topic is created with.
type internalTopic struct {
	name       string
	partitions int32
	rf         int16
	minISR     int32 // 0: the broker default
	configs    map[string]string
}

// ensureInternalTopic creates an internal topic on first use. It waits
// (COORDINATOR_NOT_AVAILABLE) until rf brokers are live, as Kafka does,
// except that a cluster with fewer controller voters than that needs only
// as many brokers as voters: a one-node cluster needs no setting. The
// replication factor is capped to the live brokers, and min.insync.replicas
// to the replication factor, so that a small cluster can write to it.
func (b *Broker) ensureInternalTopic(ctx context.Context, it internalTopic) error {
	img := b.store.Current()
	if _, ok := img.Topic(it.name); ok {
		return nil
	}
	live := int16(0)
	for _, br := range img.Brokers() {
		if !br.Fenced {
			live++
		}
	}
	if need := min(it.rf, int16(len(b.voters))); live < need {
		return fmt.Errorf("%w: %d live brokers, %s needs %d", kerr.CoordinatorNotAvailable, live, it.name, need)
	}
	rf := min(it.rf, live)
	configs := make(map[string]*string, len(it.configs)+1)
	for k, v := range it.configs {
		configs[k] = &v
	}
	if it.minISR > 0 {
		isr := strconv.Itoa(int(min(it.minISR, int32(rf))))
		configs["min.insync.replicas"] = &isr
	}
	res := b.ctrl.CreateTopics(ctx, []controller.TopicSpec{{
		Name:              it.name,
		NumPartitions:     it.partitions,
		ReplicationFactor: rf,
		Configs:           configs,
	}}, false, b.topicDefaults())
	if err := res[0].Err; err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create %s: %w", it.name, err)
	}
	b.waitLocal(ctx)
	return nil
}

// logLoadError logs a coordinator's failed load of partition p of an
// internal topic: at info level when the leadership moved on meanwhile (a
// restarting node may lead a partition for a moment), else as an error.
func logLoadError(logger *slog.Logger, topic string, p int32, err error) {
	if errors.Is(err, kerr.NotLeaderForPartition) {
		logger.Info("stopped loading a coordinator partition: the leadership moved", "topic", topic, "partition", p)
		return
	}
	logger.Error("load coordinator partition", "topic", topic, "partition", p, "err", err)
}

// offsetsStore is one partition of the offsets topic as the group
// coordinator sees it.
type offsetsStore struct{ internalLog }

// Append writes the records as one batch with acks=all (internalLog.append).
func (s offsetsStore) Append(ctx context.Context, recs []group.Record) error {
	return s.append(ctx, recordsOf(recs))
}

// AppendTxn writes the records as one transactional batch of the producer,
// with base sequence 0 as Kafka's coordinator writes it: the partition
// checks the epoch, not the sequence (Partition.AppendCoordinator).
func (s offsetsStore) AppendTxn(ctx context.Context, producerID int64, epoch int16, guard txn.Guard, recs []group.Record) error {
	return s.appendBatch(ctx, recordbatch.BuildOptions{
		BaseTimestamp: time.Now().UnixMilli(), ProducerID: producerID, ProducerEpoch: epoch, Transactional: true,
	}, guard, recordsOf(recs))
}

func recordsOf(recs []group.Record) []recordbatch.Record {
	rs := make([]recordbatch.Record, len(recs))
	for i, r := range recs {
		rs[i] = recordbatch.Record{Key: r.Key, Value: r.Value}
	}
	return rs
}

// Replay reads the partition as internalLog.Replay does, with each record's
// producer and transactional bit, and each transaction marker.
func (s offsetsStore) Replay(ctx context.Context, fn func(group.LogRecord) error) error {
	return s.scan(ctx, func(h recordbatch.Header, batch []byte, from int64, scratch *[]byte) error {
		if h.Control() {
			m, err := recordbatch.ReadEndTxnMarker(batch)
			if err != nil {
				return nil // another control type: nothing for the groups
			}
			return fn(group.LogRecord{ProducerID: h.ProducerID, Transactional: true, Control: true, Commit: m.Commit})
		}
		return iterateFrom(h, batch, from, scratch, func(r *recordbatch.Record) error {
			return fn(group.LogRecord{Key: r.Key, Value: r.Value, ProducerID: h.ProducerID, Transactional: h.Transactional()})
		})
	})
}

// internalLog is one partition of an internal topic (__consumer_offsets,
// __transaction_state) as its coordinator sees it.
type internalLog struct {
	p       *partition.Partition
	timeout time.Duration // how long an append waits for replication
	minISR  int
}

// append writes the records as one uncompressed batch and waits until every
// in-sync replica has it, as Kafka writes coordinator state with acks=all.
func (s internalLog) append(ctx context.Context, rs []recordbatch.Record) error {
	return s.appendBatch(ctx, recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1}, txn.Unverified, rs)
}

// appendBatch is append for a batch built with opts; a transactional one
// goes in with Partition.AppendCoordinator and guard.
func (s internalLog) appendBatch(ctx context.Context, opts recordbatch.BuildOptions, guard txn.Guard, rs []recordbatch.Record) error {
	batch, err := recordbatch.Build(opts, rs)
	if err != nil {
		return err
	}
	h, err := recordbatch.ReadHeader(batch)
	if err != nil {
		return err
	}
	var res partition.AppendResult
	if opts.Transactional {
		res, err = s.p.AppendCoordinator(batch, h, guard)
	} else {
		res, err = s.p.Append(batch, h, -1)
	}
	if err != nil {
		return err
	}
	if res.Unsynced {
		if err := s.p.Sync(res.LastOffset + 1); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch, max(s.minISR, 1))
}

// Replay calls fn for every record from the log start to the log end, as
// Kafka loads a group partition: the high watermark of a leader just elected
// may not yet have caught up with what its followers hold. Control batches
// are skipped.
func (s internalLog) Replay(ctx context.Context, fn func(key, value []byte) error) error {
	return s.scan(ctx, func(h recordbatch.Header, batch []byte, from int64, scratch *[]byte) error {
		if h.Control() {
			return nil
		}
		return iterateFrom(h, batch, from, scratch, func(r *recordbatch.Record) error { return fn(r.Key, r.Value) })
	})
}

// scan calls fn for every batch from the log start to the log end, with
// the offset its records count from (a batch may start before the log
// start) and a scratch buffer for recordbatch.Iterate.
func (s internalLog) scan(ctx context.Context, fn func(h recordbatch.Header, batch []byte, from int64, scratch *[]byte) error) error {
	var scratch []byte
	for off, end := s.p.LogStartOffset(), s.p.LogEndOffset(); off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := s.p.ReadLog(off, 1<<20, end)
		if err != nil {
			return err
		}
		records, err := res.Records.AppendTo(nil)
		res.Records.Release()
		if err != nil {
			return err
		}
		if len(records) == 0 {
			return nil
		}
		for data := records; len(data) > 0; {
			h, err := recordbatch.ReadHeader(data)
			if err != nil || h.Size() > int64(len(data)) {
				return fmt.Errorf("replay %s-%d at %d: bad batch", s.p.Topic, s.p.Index, off)
			}
			batch := data[:h.Size()]
			data = data[h.Size():]
			if h.LastOffset() >= off {
				if err := fn(h, batch, off, &scratch); err != nil {
					return err
				}
			}
			off = max(off, h.NextOffset())
		}
	}
	return nil
}

// iterateFrom calls fn for the records of batch at offset from or later.
func iterateFrom(h recordbatch.Header, batch []byte, from int64, scratch *[]byte, fn func(*recordbatch.Record) error) error {
	return recordbatch.Iterate(batch, scratch, func(r *recordbatch.Record) error {
		if h.BaseOffset+int64(r.OffsetDelta) < from {
			return nil
		}
		return fn(r)
	})
}

// groupLoads hands the offsets-topic partitions this node comes to lead to
// the goroutine that loads them into the coordinator: reconcile runs on the
// metadata apply path and must not wait for a replay.
type groupLoads struct {
	coordinator *group.Coordinator
	mu          sync.Mutex
	pending     map[int32]bool // true: load, false: unload
	wake        chan struct{}
}

func newGroupLoads(c *group.Coordinator) *groupLoads {
	return &groupLoads{coordinator: c, pending: map[int32]bool{}, wake: make(chan struct{}, 1)}
}

func (g *groupLoads) add(partition int32, load bool) {
	if load {
		g.coordinator.Loading(partition)
	}
	g.mu.Lock()
	g.pending[partition] = load
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *groupLoads) take() map[int32]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pending
	g.pending = map[int32]bool{}
	return p
}

// runGroupLoads loads and unloads offsets partitions until ctx ends.
func (b *Broker) runGroupLoads(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.loads.wake:
		}
		for idx, load := range b.loads.take() {
			if !load {
				b.groups.Unload(idx)
				continue
			}
			p, err := b.parts.Get(offsetsTopic, idx)
			if err != nil {
				continue // deleted meanwhile
			}
			start := time.Now()
			if err := b.groups.Load(ctx, idx, offsetsStore{internalLog{p: p, timeout: b.cfg.Settings.OffsetsCommitTimeout()}}); err != nil {
				if ctx.Err() == nil {
					logLoadError(b.logger, offsetsTopic, idx, err)
				}
				continue
			}
			b.logger.Debug("loaded group partition", "partition", idx, "took", time.Since(start))
		}
	}
}
