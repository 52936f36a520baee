// Package commitlog is the storage engine of one partition's log: a
// directory of segment files holding record batches back to back, each with
// a sparse offset index and a time index, plus checkpoints of the log start
// offset and the recovery point. docs/format/segments.md specifies the files
// and the recovery rules. The package knows nothing of Kafka requests.
//
// Lock order (outer first): Log.cleanMu, Log.appendMu, Log.syncMu, Log.mu.
// cleanMu serializes cleaning passes (Clean) and is held across their I/O,
// which otherwise runs without appendMu except for the final swap. appendMu
// serializes writers (Append, roll, Truncate, retention, Close) and is held
// during their file I/O; mu guards the in-memory state and is held only for
// memory updates, so readers never wait on a writer's I/O; syncMu guards the
// group commit state.
package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/stratalog/strata/internal/recordbatch"
)

// Config is a log's configuration. Its zero value is not useful; start from
// DefaultConfig. Values <= 0 for SegmentBytes, IndexIntervalBytes,
// SegmentIndexBytes, FlushMessages and FlushMs select their defaults (for
// the flush settings: never).
type Config struct {
	SegmentBytes       int64 // roll when the active segment would exceed this
	SegmentMs          int64 // roll when the active segment's first batch is older than this (by append wall clock); <=0 disables
	SegmentJitterMs    int64 // a random amount in [0, SegmentJitterMs) is taken off SegmentMs per segment
	RetentionMs        int64 // < 0 = infinite; delete whole segments whose largest timestamp is older
	RetentionBytes     int64 // < 0 = infinite; delete oldest segments while size exceeds
	IndexIntervalBytes int32 // log bytes between offset index entries (4096)
	SegmentIndexBytes  int64 // max index file size (10 MiB); roll when full
	FlushMessages      int64 // fsync after this many records (math.MaxInt64: never; 1: every append)
	FlushMs            int64 // fsync when the oldest unflushed append is older than this (math.MaxInt64: never); driven by Tick
	FileDeleteDelayMs  int64 // accepted for Kafka parity; deletion waits for readers by reference count instead
	Preallocate        bool  // size new segment files to SegmentBytes up front (trimmed on roll and close)

	// Compaction (see Clean). Compact is cleanup.policy containing
	// "compact"; retention (RetentionMs, RetentionBytes) applies as well,
	// so a compact-only log sets both to -1 (compact,delete keeps them).
	Compact                bool
	DeleteRetentionMs      int64   // delete.retention.ms: tombstones stay this long after their batch was first cleaned; < 0 = 0
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: clean when dirty bytes / cleanable bytes reach this
	MinCompactionLagMs     int64   // min.compaction.lag.ms: segments holding a record younger than this are not cleaned
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: clean regardless of the ratio when a dirty record is older; also caps SegmentMs; <= 0 = math.MaxInt64
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelayMs:  60000,

		DeleteRetentionMs:      24 * 3600 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes < timeEntrySize {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = math.MaxInt64
	}
	if c.FlushMs <= 0 {
		c.FlushMs = math.MaxInt64
	}
	c.DeleteRetentionMs = max(c.DeleteRetentionMs, 0)
	if c.MaxCompactionLagMs <= 0 {
		c.MaxCompactionLagMs = math.MaxInt64
	}
	return c
}

// Options are a log's collaborators.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // nil = time.Now
	Clean  bool             // previous shutdown was clean: skip full CRC recovery of the tail
	FS     FS               // nil = OSFS
}

// Sentinel errors.
var (
	// ErrOffsetOutOfRange: an offset outside [StartOffset, EndOffset].
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrClosed: the log was closed, or failed on an earlier write and
	// accepts no more writes.
	ErrClosed = errors.New("log closed")
	// ErrCorruption: Open found bad bytes followed by valid batches; it is
	// wrapped in a *CorruptionError.
	ErrCorruption = errors.New("log corruption")
)

// CorruptionError locates bad data that recovery did not repair.
type CorruptionError struct {
	Segment string // file name of the segment
	Offset  int64  // file position of the first bad batch
	Err     error  // what was wrong; wraps ErrCorruption
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("segment %s at position %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// AppendResult locates an appended batch.
type AppendResult struct {
	BaseOffset int64
	LastOffset int64
	Position   int64 // file position within its segment
}

// Log is one partition's log. All methods are safe for concurrent use;
// after Close (or Delete) every method returns ErrClosed or zero values.
type Log struct {
	dir    string
	fsys   FS
	logger *slog.Logger
	now    func() time.Time

	appendMu sync.Mutex
	savedRP  int64           // (appendMu) recovery point last written to disk
	hasRP    bool            // (appendMu) the recovery point file exists
	listed   map[string]bool // the log directory's names, during recovery only
	failed   error           // (appendMu) sticky write failure

	syncMu   sync.Mutex
	syncCond *sync.Cond
	syncing  bool  // (syncMu) an fsync round is running
	flushed  int64 // (syncMu) every offset below is durable
	syncErr  error // (syncMu) sticky fsync failure

	mu             sync.RWMutex
	cfg            Config     // (appendMu to write, with mu)
	segs           []*segment // (mu) copy on write; the last is active
	start          int64      // (mu) log start offset
	leo            int64      // (mu) log end offset
	size           int64      // (mu) bytes in all segments
	unflushed      int64      // (mu) records appended since the last fsync round began
	unflushedSince int64      // (mu) wall clock (ms) of the first of them
	closed         bool       // (mu)
	newFiles       bool       // (mu) a segment was created since the directories were last fsynced
	firstDirty     int64      // (mu; appendMu to write) cleaner checkpoint: offsets below were compacted
	horizonDue     int64      // (mu) earliest delete horizon of a kept tombstone as of the last pass; 0 after Open (unknown), math.MaxInt64 for none

	cleanMu sync.Mutex
}

func (l *Log) nowMs() int64 { return l.now().UnixMilli() }

// StartOffset is the first offset in the log.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// EndOffset is the log end offset: the offset the next record will get.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo
}

// Size is the number of bytes of batches in the log.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// SegmentCount is the number of segments, the active one included.
func (l *Log) SegmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// Config returns the configuration, with defaults filled in.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig replaces the configuration; it applies from the next append
// (segment and index sizes) or Tick (flush and roll times).
func (l *Log) SetConfig(cfg Config) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	l.cfg = cfg.normalized()
	l.mu.Unlock()
}

// writable returns why the log accepts no writes, or nil. Caller holds appendMu.
func (l *Log) writable() error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("%w: earlier write failed: %w", ErrClosed, l.failed)
	}
	return nil
}

// Append appends one whole batch that the caller has validated
// (recordbatch.Check passed) and gives up: Append sets its base offset to
// the log end offset in place. It rolls to a new segment when the active
// one is full or old, writes the batch and its index entries, and, when
// FlushMessages records have accumulated, returns only after an fsync that
// began after the batch was written (concurrent callers share fsyncs). A
// failed write leaves the log as it was when the file can be truncated back,
// and otherwise fails the log (ErrClosed from then on).
func (l *Log) Append(batch []byte) (AppendResult, error) {
	res, needSync, err := l.AppendUnsynced(batch)
	if err == nil && needSync {
		err = l.syncTo(res.LastOffset + 1)
	}
	if err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// AppendUnsynced appends as Append does but never waits for an fsync: when
// the flush policy wants one it reports needSync, and the caller calls
// SyncTo(res.LastOffset+1), outside its own locks, before it counts the
// batch as written.
func (l *Log) AppendUnsynced(batch []byte) (res AppendResult, needSync bool, err error) {
	return l.append(batch, false)
}

// AppendReplica appends a batch copied from the partition's leader, keeping
// its base offset, which must be at least EndOffset (a gap is what the
// leader's compaction left); otherwise it returns ErrOffsetOutOfRange. It
// never waits for an fsync, as AppendUnsynced.
func (l *Log) AppendReplica(batch []byte) (res AppendResult, needSync bool, err error) {
	return l.append(batch, true)
}

func (l *Log) append(batch []byte, keepOffset bool) (AppendResult, bool, error) {
	h, err := recordbatch.ReadHeader(batch)
	if err != nil {
		return AppendResult{}, false, fmt.Errorf("append: %w", err)
	}
	if h.Size() != int64(len(batch)) || h.LastOffsetDelta < 0 {
		return AppendResult{}, false, fmt.Errorf("append: %w: batch length %d, %d bytes", recordbatch.ErrCorrupt, h.Length, len(batch))
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, false, err
	}
	if keepOffset && h.BaseOffset < l.leo {
		return AppendResult{}, false, fmt.Errorf("%w: replica batch at %d below the log end offset %d", ErrOffsetOutOfRange, h.BaseOffset, l.leo)
	}
	return l.appendLocked(batch, h, keepOffset)
}

// SyncTo returns once every offset below end is durable (see Append).
func (l *Log) SyncTo(end int64) error { return l.syncTo(end) }

// Flushed is the offset below which every record is durable.
func (l *Log) Flushed() int64 {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.flushed
}

func (l *Log) appendLocked(batch []byte, h recordbatch.Header, keepOffset bool) (AppendResult, bool, error) {
	cfg := l.cfg
	now := l.nowMs()
	s := l.segs[len(l.segs)-1]
	base := l.leo
	if keepOffset {
		base = h.BaseOffset
	}
	if l.shouldRoll(s, cfg, int64(len(batch)), base+int64(h.LastOffsetDelta), now) {
		if err := l.roll(); err != nil {
			return AppendResult{}, false, err
		}
		s = l.segs[len(l.segs)-1]
	}
	recordbatch.PutBaseOffset(batch, base)
	h.BaseOffset = base
	pos := s.size.Load()
	if _, err := s.log.WriteAt(batch, pos); err != nil {
		if terr := s.log.Truncate(pos); terr != nil {
			l.failed = err
		}
		return AppendResult{}, false, fmt.Errorf("append to %s: %w", s.name(), err)
	}

	l.mu.RLock()
	idx, tix, maxTS, maxTSOff := s.idx, s.tix, s.maxTS, s.maxTSOff
	l.mu.RUnlock()
	indexed := s.sinceIndex >= int64(cfg.IndexIntervalBytes)
	if indexed {
		idx = binary.BigEndian.AppendUint32(idx, uint32(base-s.base))
		idx = binary.BigEndian.AppendUint32(idx, uint32(pos))
		s.sinceIndex = 0
	}
	if h.MaxTimestamp > maxTS {
		maxTS, maxTSOff = h.MaxTimestamp, h.LastOffset()
	}
	if last, _, ok := lastTimeEntry(tix); indexed && maxTS >= 0 && (!ok || maxTS > last) {
		tix = appendTimeEntry(s, tix, maxTS, maxTSOff)
	}
	s.sinceIndex += int64(len(batch))
	if s.firstAt == 0 {
		s.firstAt = now
	}

	l.mu.Lock()
	s.size.Add(int64(len(batch)))
	s.next = h.NextOffset()
	s.idx, s.tix, s.maxTS, s.maxTSOff = idx, tix, maxTS, maxTSOff
	s.noteAppended(base, h.LastOffset(), pos)
	s.dirty = true
	l.leo = h.NextOffset()
	l.size += int64(len(batch))
	if l.unflushed == 0 {
		l.unflushedSince = now
	}
	l.unflushed += int64(max(h.NumRecords, 1))
	needSync := l.unflushed >= cfg.FlushMessages
	l.mu.Unlock()
	return AppendResult{BaseOffset: base, LastOffset: h.LastOffset(), Position: pos}, needSync, nil
}

// appendTimeEntry returns tix plus the entry (ts, off).
func appendTimeEntry(s *segment, tix []byte, ts, off int64) []byte {
	tix = binary.BigEndian.AppendUint64(tix, uint64(ts))
	return binary.BigEndian.AppendUint32(tix, uint32(off-s.base))
}

// must go to a new segment. An empty segment takes any batch.
func (l *Log) shouldRoll(s *segment, cfg Config, size, last, now int64) bool {
	if s.size.Load() == 0 {
		return false
	}
	l.mu.RLock()
	idxFull := int64(len(s.idx)+offsetEntrySize) > cfg.SegmentIndexBytes ||
		int64(len(s.tix)+timeEntrySize) > cfg.SegmentIndexBytes
	l.mu.RUnlock()
	return idxFull ||
		s.size.Load()+size > cfg.SegmentBytes ||
		last-s.base > maxRelative ||
		l.segmentExpired(s, cfg, now)
}

// segmentExpired reports whether s's first append is SegmentMs old; for a
// compacted log MaxCompactionLagMs caps SegmentMs, as in Kafka, since the
// active segment is never cleaned.
func (l *Log) segmentExpired(s *segment, cfg Config, now int64) bool {
	limit := cfg.SegmentMs - s.jitter
	if cfg.SegmentMs <= 0 {
		limit = math.MaxInt64
	}
	if cfg.Compact {
		limit = min(limit, cfg.MaxCompactionLagMs)
	}
	return limit != math.MaxInt64 && s.firstAt != 0 && now-s.firstAt >= limit
}

// roll seals the active segment and starts a new one at the log end
// offset. Caller holds appendMu.
func (l *Log) roll() error {
	old := l.segs[len(l.segs)-1]
	if err := l.sealSegment(old); err != nil {
		return err
	}
	s, err := l.createSegment(l.leo)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.segs = append(slices.Clip(l.segs), s)
	l.mu.Unlock()
	return nil
}

// sealSegment writes the final time index entry of s (so that the last
// entry holds the segment's largest timestamp) and trims a preallocated
// log file. Caller holds appendMu.
func (l *Log) sealSegment(s *segment) error {
	l.mu.Lock()
	tix, maxTS, maxTSOff := s.tix, s.maxTS, s.maxTSOff
	s.recent = nil // only the active segment's are read
	l.mu.Unlock()
	if last, _, ok := lastTimeEntry(tix); maxTS >= 0 && (!ok || maxTS > last) {
		tix = appendTimeEntry(s, tix, maxTS, maxTSOff)
		l.mu.Lock()
		s.tix, s.dirty = tix, true
		l.mu.Unlock()
	}
	// Index files put off while s was small and active are written by
	// the next sync.
	s.idxMu.Lock()
	deferred := s.indexesEmptyLocked()
	s.idxMu.Unlock()
	if deferred {
		l.mu.Lock()
		s.dirty = s.dirty || len(s.idx) > 0 || len(s.tix) > 0
		l.mu.Unlock()
	}
	if l.cfg.Preallocate {
		if err := s.log.Truncate(s.size.Load()); err != nil {
			l.failed = err
			return fmt.Errorf("trim %s: %w", s.name(), err)
		}
	}
	return nil
}

// createSegment creates the files of a new empty segment at base; the
// next fsync round makes its name durable. Caller holds appendMu.
func (l *Log) createSegment(base int64) (*segment, error) {
	s, err := openSegment(l.fsys, l.dir, base, true, &l.mu, l.logger)
	if err != nil {
		return nil, err
	}
	if l.cfg.SegmentJitterMs > 0 {
		s.jitter = rand.Int64N(l.cfg.SegmentJitterMs)
	}
	if l.cfg.Preallocate {
		if err := s.log.Truncate(l.cfg.SegmentBytes); err != nil {
			s.release()
			return nil, fmt.Errorf("preallocate %s: %w", s.name(), err)
		}
	}
	l.mu.Lock()
	l.newFiles = true
	l.mu.Unlock()
	return s, nil
}

// Sync fsyncs everything appended so far.
func (l *Log) Sync() error {
	l.mu.RLock()
	leo, closed := l.leo, l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return l.syncTo(leo)
}

// syncTo returns once every offset below target is durable: it joins a
// running fsync round only if that round began after target was written,
// and otherwise runs (or waits for) a new round. A round fsyncs, oldest
// first, every segment with unsynced data or index entries, outside
// appendMu. An fsync failure is sticky.
func (l *Log) syncTo(target int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for {
		if l.syncErr != nil {
			return l.syncErr
		}
		if l.flushed >= target {
			return nil
		}
		if l.syncing {
			l.syncCond.Wait()
			continue
		}
		l.syncing = true
		l.syncMu.Unlock()
		upto, err := l.syncRound()
		l.syncMu.Lock()
		l.syncing = false
		if err != nil {
			l.syncErr = fmt.Errorf("%w: fsync failed: %w", ErrClosed, err)
		} else {
			l.flushed = max(l.flushed, upto)
		}
		l.syncCond.Broadcast()
	}
}

// syncRound fsyncs the dirty segments and returns the log end offset it
// captured before starting.
func (l *Log) syncRound() (int64, error) {
	var stack [4]*segment
	dirty := stack[:0]
	l.mu.Lock()
	upto := l.leo
	l.unflushed = 0
	for _, s := range l.segs {
		if s.dirty {
			s.dirty = false
			s.acquire()
			dirty = append(dirty, s)
		}
	}
	newFiles := l.newFiles
	l.newFiles = false
	l.mu.Unlock()
	var err error
	for _, s := range dirty {
		if err == nil {
			err = s.sync(l.isActive(s))
		}
		s.release()
	}
	if err == nil && newFiles {
		err = l.syncDirs()
	}
	return upto, err
}

// syncDirs makes the names of the log's files durable, and the log's own
// directory's name: segments are created without it (a directory fsync
// per new partition made creating 10,000 take seconds), as Kafka flushes a
// new log's parent directory at its first flush.
func (l *Log) syncDirs() error {
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	if err := l.fsys.SyncDir(filepath.Dir(l.dir)); err != nil {
		return fmt.Errorf("sync parent dir: %w", err)
	}
	return nil
}

// sync fsyncs the log file and brings the index files up to date, fsynced
// (see saveIndexes for active).
func (s *segment) sync(active bool) error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.name(), err)
	}
	return s.saveIndexes(true, active)
}

// isActive reports whether s is the log's last segment, the one appended to.
func (l *Log) isActive(s *segment) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs) > 0 && l.segs[len(l.segs)-1] == s
}

// Tick does the log's timed work: it fsyncs when the oldest unflushed
// append is FlushMs old, rolls the active segment when SegmentMs has
// passed since its first append, and persists the recovery point when it
// has advanced.
func (l *Log) Tick() error {
	now := l.nowMs()
	l.mu.RLock()
	closed, cfg := l.closed, l.cfg
	due := l.unflushed > 0 && cfg.FlushMs != math.MaxInt64 && now-l.unflushedSince >= cfg.FlushMs
	leo := l.leo
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if due {
		if err := l.syncTo(leo); err != nil {
			return err
		}
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if s := l.segs[len(l.segs)-1]; s.size.Load() > 0 && l.segmentExpired(s, l.cfg, now) {
		if err := l.roll(); err != nil {
			return err
		}
	}
	return l.saveRecoveryPoint(true)
}

// saveRecoveryPoint persists the durable offset when it moved, fsynced if
// sync. Caller holds appendMu.
func (l *Log) saveRecoveryPoint(sync bool) error {
	l.syncMu.Lock()
	rp := l.flushed
	l.syncMu.Unlock()
	if rp == l.savedRP || !l.hasRP && l.small() {
		return nil
	}
	if err := putCheckpoint(l.fsys, l.dir, recoveryPointFile, rp, sync); err != nil {
		return err
	}
	l.savedRP, l.hasRP = rp, true
	return nil
}

// small reports whether the log is one segment smaller than
// smallSegmentBytes. Such a log gets no recovery point file: without one,
// recovery after a crash walks the whole segment, which costs less than
// the file. Once written, the file is kept up to date, as a stale one
// could vouch for offsets a truncation removed.
func (l *Log) small() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs) == 1 && l.segs[0].size.Load() < smallSegmentBytes
}

// Close fsyncs the log, completes the indexes, records the recovery point
// and closes the files (each once its last reader is done). Nothing else
// may be called afterwards; a second Close returns ErrClosed.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	var errs []error
	if l.failed == nil {
		if err := l.sealSegment(l.segs[len(l.segs)-1]); err != nil {
			errs = append(errs, err)
		}
		if err := l.Sync(); err != nil {
			errs = append(errs, err)
		} else if err := l.saveRecoveryPoint(true); err != nil {
			errs = append(errs, err)
		}
		if err := l.SyncAbortedTxns(); err != nil {
			errs = append(errs, err)
		}
	}
	l.release()
	return errors.Join(errs...)
}

// release marks the log closed and drops its references to the segments.
// Caller holds appendMu.
func (l *Log) release() {
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.segs = nil
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
}

// Delete closes the log and removes its directory. Unlike Close it syncs
// nothing: writing back data about to be unlinked made deleting a topic
// just written wait for the disk to take all of it.
func (l *Log) Delete() error {
	l.appendMu.Lock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if !closed {
		l.release()
	}
	l.appendMu.Unlock()
	if err := l.fsys.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("delete log: %w", err)
	}
	return nil
}
