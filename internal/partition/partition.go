// Package partition is one partition replica: the log, the high watermark,
// the idempotent-producer state and the leader epoch cache (kept in state
// snapshots beside the log), and the waiting
// of long-poll fetches for new data. On a one-node cluster the replica is
// always the leader and the high watermark is the log end offset.
package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/txn"
)

// Partition is one partition replica. Appends are serialized; reads run
// concurrently with appends.
type Partition struct {
	Topic string
	Index int32

	dir    string
	logger *slog.Logger
	log    *commitlog.Log
	epochs *epochCache
	saveMu sync.Mutex // serializes writes of the state snapshots

	mu        sync.Mutex // serializes appends and producer state
	producers *txn.ProducerState
	epoch     int32
	// sinceState is the size of the batches after the newest state
	// snapshot: what Open would read again.
	sinceState int64

	hw      atomic.Int64
	waitMu  sync.Mutex
	changed chan struct{} // closed and replaced whenever hw advances
}

// Options configure Open.
type Options struct {
	Logger      *slog.Logger
	LeaderEpoch int32
	Clean       bool // the previous shutdown was clean
}

// Open opens (or creates) the partition's log in dir and rebuilds its
// producer state and leader epochs: from the newest usable state snapshot
// and the batch headers after it, or from every batch header in the log.
func Open(dir, topic string, index int32, cfg commitlog.Config, opts Options) (*Partition, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := commitlog.Open(dir, cfg, commitlog.Options{Logger: opts.Logger, Clean: opts.Clean})
	if err != nil {
		return nil, err
	}
	p := &Partition{
		Topic:   topic,
		Index:   index,
		dir:     dir,
		logger:  opts.Logger,
		log:     l,
		epoch:   opts.LeaderEpoch,
		changed: make(chan struct{}),
	}
	if err := p.restore(); err != nil {
		l.Close()
		return nil, err
	}
	p.hw.Store(l.EndOffset())
	return p, nil
}

// restore sets the producer state and the leader epoch cache from the
// newest state snapshot at or below the log end offset (or from nothing)
// and the batch headers after it.
func (p *Partition) restore() error {
	end := p.log.EndOffset()
	st, found, err := loadState(p.dir, end, p.logger)
	if err != nil {
		return fmt.Errorf("load state snapshot: %w", err)
	}
	p.epochs, p.producers = &epochCache{}, txn.NewProducerState()
	from := p.log.StartOffset()
	if found {
		p.epochs.entries, p.producers = st.epochs, st.producers
		from = max(from, st.offset)
	}
	p.epochs.truncateFrom(end)
	if err := p.log.ScanHeaders(from, func(h recordbatch.Header) bool {
		p.producers.Update(h, h.MaxTimestamp)
		p.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		p.sinceState += h.Size()
		return true
	}); err != nil {
		return fmt.Errorf("rebuild producer state: %w", err)
	}
	return nil
}

// AppendResult is the outcome of one append.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	Duplicate      bool // the batch was a retry of one already appended
}

// Append appends one validated batch (the caller gives up the slice). With
// logAppendTime >= 0 the batch's timestamps are set to it. An idempotent
// producer's duplicate is not appended again: its original offset is
// returned. Errors from the producer state wrap kerr values.
func (p *Partition) Append(batch []byte, h recordbatch.Header, logAppendTime int64) (AppendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := AppendResult{LogAppendTime: -1}
	if dup, err := p.producers.Check(h); err != nil {
		return res, err
	} else if dup != nil {
		res.BaseOffset, res.Duplicate = dup.BaseOffset, true
		if logAppendTime >= 0 {
			res.LogAppendTime = dup.Timestamp
		}
		res.LogStartOffset = p.log.StartOffset()
		return res, nil
	}
	if logAppendTime >= 0 {
		recordbatch.SetLogAppendTime(batch, logAppendTime)
		res.LogAppendTime = logAppendTime
	}
	recordbatch.PutPartitionLeaderEpoch(batch, p.epoch)
	ar, err := p.log.Append(batch)
	if err != nil {
		return res, err
	}
	h.BaseOffset = ar.BaseOffset
	ts := h.MaxTimestamp
	if logAppendTime >= 0 {
		ts = logAppendTime
	}
	p.producers.Update(h, ts)
	p.epochs.assign(p.epoch, ar.BaseOffset)
	p.sinceState += int64(len(batch))
	res.BaseOffset = ar.BaseOffset
	res.LogStartOffset = p.log.StartOffset()
	p.advance(ar.LastOffset + 1)
	return res, nil
}

// advance moves the high watermark and wakes waiting fetches.
func (p *Partition) advance(hw int64) {
	p.hw.Store(hw)
	p.waitMu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.waitMu.Unlock()
}

// Changed returns a channel closed the next time the high watermark moves.
func (p *Partition) Changed() <-chan struct{} {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	return p.changed
}

// ReadResult is what a fetch reads from the partition.
type ReadResult struct {
	Records        commitlog.Slice // whole batches, not yet read; the caller releases it
	HighWatermark  int64
	LogStartOffset int64
}

// Read locates whole batches from offset up to maxBytes (at least one
// whole batch) below the high watermark; the caller must Release
// res.Records. An offset outside [log start, high
// watermark] is commitlog.ErrOffsetOutOfRange.
func (p *Partition) Read(offset int64, maxBytes int32) (ReadResult, error) {
	hw := p.hw.Load()
	res := ReadResult{HighWatermark: hw, LogStartOffset: p.log.StartOffset()}
	if offset > hw {
		return res, commitlog.ErrOffsetOutOfRange
	}
	var err error
	res.Records, err = p.log.ReadSlice(offset, maxBytes, hw)
	return res, err
}

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// LogEndOffset is the next offset to be assigned.
func (p *Partition) LogEndOffset() int64 { return p.log.EndOffset() }

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// Size is the log's size on disk in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// OffsetForTimestamp returns the first offset whose timestamp is at least ts.
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	return p.log.OffsetForTimestamp(ts)
}

// MaxTimestamp returns the largest timestamp in the log and its offset.
func (p *Partition) MaxTimestamp() (timestamp, offset int64) { return p.log.MaxTimestamp() }

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords).
// offset -1 means the high watermark. It returns the new log start offset.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return p.log.StartOffset(), commitlog.ErrOffsetOutOfRange
	}
	if offset <= p.log.StartOffset() {
		return p.log.StartOffset(), nil
	}
	// Producer state is kept (as Kafka does since 2.5): a retry of a
	// deleted batch is still recognised as a duplicate until it expires.
	if err := p.log.SetStartOffset(offset); err != nil {
		return p.log.StartOffset(), err
	}
	return offset, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch at most
// the requested one and the offset where the next epoch starts (or the log
// end offset for the current epoch).
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.epochs.endOffsetFor(epoch, p.log.EndOffset())
}

// ExpireProducers forgets the producers whose latest batch timestamp is
// maxIdleMs or more before nowMs, and returns how many.
func (p *Partition) ExpireProducers(nowMs, maxIdleMs int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.producers.Len()
	p.producers.Expire(nowMs, maxIdleMs)
	return n - p.producers.Len()
}

// SetConfig applies a new log configuration.
func (p *Partition) SetConfig(cfg commitlog.Config) { p.log.SetConfig(cfg) }

// EnforceRetention deletes segments past retention.
func (p *Partition) EnforceRetention() error {
	_, err := p.log.EnforceRetention()
	return err
}

// Clean runs one compaction pass if the log is compacted and due.
func (p *Partition) Clean(ctx context.Context) (commitlog.CleanStats, error) { return p.log.Clean(ctx) }

// Tick runs time-based flushes and rolls, and writes a state snapshot when
// tickStateBytes were appended since the last.
func (p *Partition) Tick() error {
	if err := p.log.Tick(); err != nil {
		return err
	}
	return p.saveState(tickStateBytes)
}

// Close writes a state snapshot (when closeStateBytes were appended since
// the last) and closes the log; Delete closes it and removes its directory.
func (p *Partition) Close() error {
	return errors.Join(p.saveState(closeStateBytes), p.log.Close())
}

// CloseAll closes parts as Close closes each, with their file system
// synced as a whole rather than file by file (commitlog.CloseAll): the
// state snapshots are written first, unsynced, and made durable by the
// logs' syncs.
func CloseAll(parts []*Partition) error {
	errs := make([]error, 0, len(parts)+1)
	logs := make([]*commitlog.Log, len(parts))
	for i, p := range parts {
		if err := p.saveState(closeStateBytes); err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", p.Topic, p.Index, err))
		}
		logs[i] = p.log
	}
	return errors.Join(append(errs, commitlog.CloseAll(logs))...)
}

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error { return p.log.Delete() }

// IsOffsetOutOfRange reports whether err means the offset is outside the log.
func IsOffsetOutOfRange(err error) bool { return errors.Is(err, commitlog.ErrOffsetOutOfRange) }
