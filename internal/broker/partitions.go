package broker

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/partition"
)

// topicIDFile names the file in each partition directory that records the
// topic id the directory belongs to, as Kafka's partition.metadata does; a
// directory left from a deleted topic of the same name is told apart by it.
const topicIDFile = "partition.metadata"

type topicPartition struct {
	topic string
	index int32
}

// partitions holds this node's open partition replicas and keeps them in
// step with the metadata image: reconcile runs on every applied change.
type partitions struct {
	b  *Broker
	mu sync.RWMutex
	m  map[topicPartition]*partition.Partition
	// ids is the topic id each open topic was opened under, and configs
	// its overrides, to notice re-creation and config changes; resolved
	// is its settings, for the produce path (resolving them per request
	// was a third of the broker's allocations).
	ids      map[string][16]byte
	configs  map[string]map[string]string
	resolved map[string]config.Topic
	// failed holds the replicas that did not open (a damaged log, a disk
	// error), with why. They stay offline, answering KAFKA_STORAGE_ERROR,
	// until the broker restarts, as Kafka takes a failed log directory
	// offline; their data is left for the operator.
	failed map[topicPartition]error
}

func newPartitions(b *Broker) *partitions {
	return &partitions{
		b:        b,
		m:        make(map[topicPartition]*partition.Partition),
		ids:      make(map[string][16]byte),
		configs:  make(map[string]map[string]string),
		resolved: make(map[string]config.Topic),
		failed:   make(map[topicPartition]error),
	}
}

// topicConfig returns the settings of topic t: those resolved when its
// replicas were last reconciled if its overrides are still the same, else
// resolved now.
func (ps *partitions) topicConfig(t *metadata.Topic) (config.Topic, error) {
	ps.mu.RLock()
	cfg, ok := ps.resolved[t.Name]
	ok = ok && ps.ids[t.Name] == t.ID && maps.Equal(ps.configs[t.Name], t.Configs)
	ps.mu.RUnlock()
	if ok {
		return cfg, nil
	}
	return config.ResolveTopic(ps.b.cfg.Settings, t.Configs)
}

// get returns the open replica of topic/index; KAFKA_STORAGE_ERROR for one
// that failed to open, else UNKNOWN_TOPIC_OR_PARTITION.
func (ps *partitions) get(topic string, index int32) (*partition.Partition, error) {
	tp := topicPartition{topic, index}
	ps.mu.RLock()
	p, failed := ps.m[tp], ps.failed[tp]
	ps.mu.RUnlock()
	switch {
	case p != nil:
		return p, nil
	case failed != nil:
		return nil, fmt.Errorf("%s-%d is offline: %w: %w", topic, index, kerr.KafkaStorageError, failed)
	}
	return nil, kerr.UnknownTopicOrPartition
}

// offline reports whether this node's replica of topic/index failed to open.
func (ps *partitions) offline(topic string, index int32) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.failed[topicPartition{topic, index}] != nil
}

func partitionDir(dataDir, topic string, index int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(index)))
}

// reconcile opens replicas of new topics and partitions, applies changed
// configs, and deletes replicas of topics that are gone. It runs on the
// metadata apply path, so a topic exists here as soon as its creation is
// applied.
func (ps *partitions) reconcile(_, img *metadata.Image) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for tp, p := range ps.m {
		t, ok := img.Topic(tp.topic)
		if ok && t.ID == ps.ids[tp.topic] && int(tp.index) < len(t.Partitions) {
			continue
		}
		if tp.topic == offsetsTopic {
			ps.b.loads.add(tp.index, false)
		}
		if err := p.Delete(); err != nil {
			ps.b.logger.Error("delete partition", "topic", tp.topic, "partition", tp.index, "err", err)
		}
		delete(ps.m, tp)
		if !ok || t.ID != ps.ids[tp.topic] {
			delete(ps.ids, tp.topic)
			delete(ps.configs, tp.topic)
			delete(ps.resolved, tp.topic)
		}
	}
	for tp := range ps.failed {
		t, ok := img.Topic(tp.topic)
		if ok && t.ID == ps.ids[tp.topic] && int(tp.index) < len(t.Partitions) {
			continue
		}
		delete(ps.failed, tp)
		if !ok || t.ID != ps.ids[tp.topic] {
			delete(ps.ids, tp.topic)
			delete(ps.configs, tp.topic)
			delete(ps.resolved, tp.topic)
		}
	}
	var todo []opening
	for _, t := range img.Topics() {
		cfg, err := config.ResolveTopic(ps.b.cfg.Settings, t.Configs)
		if err != nil {
			ps.b.logger.Error("topic config", "topic", t.Name, "err", err)
			continue
		}
		lc := logConfig(cfg)
		changed := !maps.Equal(ps.configs[t.Name], t.Configs)
		ps.ids[t.Name] = t.ID
		ps.configs[t.Name] = t.Configs
		ps.resolved[t.Name] = cfg
		for _, part := range t.Partitions {
			tp := topicPartition{t.Name, part.Index}
			if p, ok := ps.m[tp]; ok {
				if changed {
					p.SetConfig(lc)
				}
				continue
			}
			if _, failed := ps.failed[tp]; failed {
				continue
			}
			if hosts(part, ps.b.cfg.NodeID) {
				todo = append(todo, opening{t: t, part: part, lc: lc})
			}
		}
	}
	ps.openAll(todo)
	for _, o := range todo {
		if o.err != nil {
			ps.b.logger.Error("open partition", "topic", o.t.Name, "partition", o.part.Index, "err", o.err)
			ps.failed[topicPartition{o.t.Name, o.part.Index}] = o.err
			continue
		}
		ps.m[topicPartition{o.t.Name, o.part.Index}] = o.p
		if o.t.Name == offsetsTopic && o.part.Leader == ps.b.cfg.NodeID {
			ps.b.loads.add(o.part.Index, true)
		}
	}
}

// opening is a replica to open, and the outcome.
type opening struct {
	t    *metadata.Topic
	part metadata.Partition
	lc   commitlog.Config
	p    *partition.Partition
	err  error
}

// openWorkers is how many replicas open at once: opening is mostly waiting
// for small file reads, so a start with thousands of partitions goes
// several times faster than one at a time.
const openWorkers = 8

// openAll opens the replicas of todo concurrently, filling in p or err.
func (ps *partitions) openAll(todo []opening) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(openWorkers, len(todo)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(todo); i = int(next.Add(1) - 1) {
				o := &todo[i]
				o.p, o.err = ps.open(o.t, o.part, o.lc)
			}
		})
	}
	wg.Wait()
}

func hosts(p metadata.Partition, node int32) bool {
	for _, r := range p.Replicas {
		if r == node {
			return true
		}
	}
	return false
}

// open opens one replica, first removing a directory left by an earlier
// topic of the same name.
func (ps *partitions) open(t *metadata.Topic, part metadata.Partition, lc commitlog.Config) (*partition.Partition, error) {
	dir := partitionDir(ps.b.cfg.DataDir, t.Name, part.Index)
	idFile := filepath.Join(dir, topicIDFile)
	want := hex.EncodeToString(t.ID[:])
	data, err := os.ReadFile(idFile)
	known := err == nil && strings.TrimSpace(string(data)) == want
	if err == nil && !known {
		ps.b.logger.Info("removing data of an earlier topic with the same name", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	logger := ps.b.logger.With("topic", t.Name, "partition", part.Index)
	p, err := partition.Open(dir, t.Name, part.Index, lc, partition.Options{
		Logger: logger, LeaderEpoch: part.LeaderEpoch, Clean: ps.b.clean,
	})
	if err != nil {
		return nil, err
	}
	if known {
		return p, nil
	}
	if err := os.WriteFile(idFile, []byte(want+"\n"), 0o644); err != nil {
		p.Close()
		return nil, fmt.Errorf("write %s: %w", topicIDFile, err)
	}
	return p, nil
}

// removeOrphans deletes partition directories no topic in the image owns
// (topics deleted while this node was down): those of neither an open
// replica nor one that failed to open.
func (ps *partitions) removeOrphans() error {
	entries, err := os.ReadDir(ps.b.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("read data directory: %w", err)
	}
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for _, e := range entries {
		if !e.IsDir() || e.Name() == metadataDir {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		idx, err := strconv.ParseInt(e.Name()[i+1:], 10, 32)
		if err != nil {
			continue
		}
		tp := topicPartition{e.Name()[:i], int32(idx)}
		if _, open := ps.m[tp]; open || ps.failed[tp] != nil {
			continue // a replica that failed to open keeps its data
		}
		if !fileExists(filepath.Join(ps.b.cfg.DataDir, e.Name(), topicIDFile)) {
			continue // not ours
		}
		ps.b.logger.Info("removing data of a deleted topic", "dir", e.Name())
		if err := os.RemoveAll(filepath.Join(ps.b.cfg.DataDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// snapshot returns the open replicas.
func (ps *partitions) snapshot() map[topicPartition]*partition.Partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return maps.Clone(ps.m)
}

// enforceRetention applies retention to every replica, until ctx ends.
func (ps *partitions) enforceRetention(ctx context.Context) {
	for tp, p := range ps.snapshot() {
		if ctx.Err() != nil {
			return
		}
		if err := p.EnforceRetention(); err != nil {
			ps.b.logger.Error("retention", "topic", tp.topic, "partition", tp.index, "err", err)
		}
	}
}

// expireProducers forgets, in every replica, the producer ids whose latest
// batch is maxIdle or more older than now (producer.id.expiration.ms).
func (ps *partitions) expireProducers(ctx context.Context, now time.Time, maxIdle time.Duration) {
	removed := 0
	for _, p := range ps.snapshot() {
		if ctx.Err() != nil {
			return
		}
		removed += p.ExpireProducers(now.UnixMilli(), maxIdle.Milliseconds())
	}
	if removed > 0 {
		ps.b.logger.Debug("expired idle producer ids", "count", removed)
	}
}

// clean runs one compaction pass over every compacted log that is due.
func (ps *partitions) clean(ctx context.Context) {
	for tp, p := range ps.snapshot() {
		if ctx.Err() != nil {
			return
		}
		stats, err := p.Clean(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			ps.b.logger.Error("compaction", "topic", tp.topic, "partition", tp.index, "err", err)
		case stats.SegmentsCleaned > 0:
			ps.b.logger.Debug("compacted", "topic", tp.topic, "partition", tp.index, "segments", stats.SegmentsCleaned,
				"bytes_before", stats.BytesBefore, "bytes_after", stats.BytesAfter, "records_removed", stats.RecordsRemoved)
		}
	}
}

// tick runs every replica's timed work until ctx ends: a stop need not wait
// for a round over thousands of them, as closeAll does what is left.
func (ps *partitions) tick(ctx context.Context) {
	for tp, p := range ps.snapshot() {
		if ctx.Err() != nil {
			return
		}
		if err := p.Tick(); err != nil {
			ps.b.logger.Error("flush", "topic", tp.topic, "partition", tp.index, "err", err)
		}
	}
}

// closeAll closes every replica, syncing the data directory's file system
// as a whole (partition.CloseAll): one fsync per file made a clean stop
// with 10,000 partitions take seconds.
func (ps *partitions) closeAll() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	parts := make([]*partition.Partition, 0, len(ps.m))
	for _, p := range ps.m {
		parts = append(parts, p)
	}
	clear(ps.m)
	if err := partition.CloseAll(parts); err != nil {
		return fmt.Errorf("close partitions: %w", err)
	}
	return nil
}

// logConfig maps Kafka-named topic settings to the storage engine's.
// Retention applies only where cleanup.policy includes delete.
func logConfig(t config.Topic) commitlog.Config {
	c := commitlog.Config{
		SegmentBytes:       t.SegmentBytes,
		SegmentMs:          t.SegmentMs,
		SegmentJitterMs:    t.SegmentJitterMs,
		RetentionMs:        t.RetentionMs,
		RetentionBytes:     t.RetentionBytes,
		IndexIntervalBytes: t.IndexIntervalBytes,
		SegmentIndexBytes:  t.SegmentIndexBytes,
		FlushMessages:      t.FlushMessages,
		FlushMs:            t.FlushMs,
		FileDeleteDelayMs:  t.FileDeleteDelayMs,
		Preallocate:        t.Preallocate,

		Compact:                t.CleanupCompact,
		DeleteRetentionMs:      t.DeleteRetentionMs,
		MinCleanableDirtyRatio: t.MinCleanableDirtyRatio,
		MinCompactionLagMs:     t.MinCompactionLagMs,
		MaxCompactionLagMs:     t.MaxCompactionLagMs,
	}
	if !t.CleanupDelete {
		c.RetentionMs, c.RetentionBytes = -1, -1
	}
	return c
}
