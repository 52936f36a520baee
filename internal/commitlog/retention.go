package commitlog

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
)

// EnforceRetention deletes the oldest segments while their largest
// timestamp is more than RetentionMs old or the log without them is still
// at least RetentionBytes, and advances StartOffset past them. A segment
// without timestamps is kept by time unless it is empty. The active
// segment is never deleted. It returns how many segments it deleted.
func (l *Log) EnforceRetention() (deletedSegments int, err error) {
	return l.EnforceRetentionBelow(math.MaxInt64)
}

// EnforceRetentionBelow is EnforceRetention deleting only segments that
// end at or below limit: a replicated partition passes its high watermark,
// as Kafka deletes no segment holding records not yet committed (they are
// not yet visible, and transactions in them not yet ended there).
func (l *Log) EnforceRetentionBelow(limit int64) (deletedSegments int, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	cfg, now := l.cfg, l.nowMs()
	total, n := l.size, 0
	for _, s := range l.segs[:len(l.segs)-1] {
		size := s.size.Load()
		byTime := cfg.RetentionMs >= 0 && (size == 0 || s.maxTS >= 0 && s.maxTS < now-cfg.RetentionMs)
		bySize := cfg.RetentionBytes >= 0 && total-size >= cfg.RetentionBytes
		if !byTime && !bySize || s.next > limit {
			break
		}
		total -= size
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, l.deletePrefix(n, max(l.start, l.segs[n].base))
}

// SetStartOffset advances the log start offset to off (DeleteRecords),
// which must be in [StartOffset, EndOffset] (else ErrOffsetOutOfRange),
// persists it, and deletes the segments wholly below it.
func (l *Log) SetStartOffset(off int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if off < l.start || off > l.leo {
		return fmt.Errorf("%w: start offset %d outside [%d, %d]", ErrOffsetOutOfRange, off, l.start, l.leo)
	}
	if off == l.start {
		return nil
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].next <= off {
		n++
	}
	return l.deletePrefix(n, off)
}

// deletePrefix persists start as the log start offset, then removes the
// first n segments. Caller holds appendMu.
func (l *Log) deletePrefix(n int, start int64) error {
	if start != l.start {
		if err := writeCheckpoint(l.fsys, l.dir, startOffsetFile, start); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.start = start
	victims := l.segs[:n]
	l.segs = l.segs[n:]
	for _, s := range victims {
		l.size -= s.size.Load()
	}
	l.mu.Unlock()
	return l.dropSegments(victims)
}

// dropSegments renames the files of segments no longer in the list and
// drops the log's reference; the last reader unlinks them.
func (l *Log) dropSegments(victims []*segment) error {
	var first error
	for _, s := range victims {
		if err := s.markDeleted(); err != nil && first == nil {
			first = err
		}
		s.release()
	}
	return first
}

// Truncate removes every batch at or above offset. A batch holding offset
// goes whole, so EndOffset becomes that batch's base offset, which may be
// below offset. The truncation is fsynced before Truncate returns. offset
// >= EndOffset does nothing; offset < StartOffset is ErrOffsetOutOfRange.
func (l *Log) Truncate(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset >= l.leo {
		return nil
	}
	if offset < l.start {
		return fmt.Errorf("%w: truncate to %d below start offset %d", ErrOffsetOutOfRange, offset, l.start)
	}
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })-1, 0)
	s := l.segs[i]
	pos, err := findBatch(s, s.idx, offset)
	if err != nil {
		return err
	}
	if err := l.truncateSegment(s, pos); err != nil {
		l.failed = err
		return err
	}
	if err := l.truncateAborted(s, s.next); err != nil {
		l.failed = err
		return err
	}
	l.mu.Lock()
	victims := l.segs[i+1:]
	l.segs = slices.Clip(l.segs[:i+1])
	l.leo = s.next
	l.size = 0
	for _, s := range l.segs {
		l.size += s.size.Load()
	}
	startMoved := l.start > l.leo
	l.start = min(l.start, l.leo)
	dirtyMoved := l.firstDirty > l.leo
	l.firstDirty = min(l.firstDirty, l.leo)
	l.mu.Unlock()

	// A round that captured the old end offset must not mark offsets that
	// will be reused as durable.
	l.syncMu.Lock()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.flushed = min(l.flushed, l.leo)
	l.syncMu.Unlock()

	if err := l.dropSegments(victims); err != nil {
		return err
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	if startMoved {
		if err := writeCheckpoint(l.fsys, l.dir, startOffsetFile, l.start); err != nil {
			return err
		}
	}
	if dirtyMoved {
		if err := writeCheckpoint(l.fsys, l.dir, cleanerCheckpointFile, l.firstDirty); err != nil {
			return err
		}
	}
	return l.saveRecoveryPoint(true)
}

// truncateSegment cuts s's log at pos, a batch boundary, drops the index
// entries at or past it, recomputes the segment's state and fsyncs it.
// Caller holds appendMu.
func (l *Log) truncateSegment(s *segment, pos int64) error {
	keep := len(s.idx) / offsetEntrySize
	for keep > 0 && int64(binary.BigEndian.Uint32(s.idx[(keep-1)*offsetEntrySize+4:])) >= pos {
		keep--
	}
	idx := slices.Clone(s.idx[:keep*offsetEntrySize])
	// Time entries point at the last offset of a batch; keep those of
	// batches before pos, that is below the first dropped batch's base.
	end := s.next
	if pos < s.size.Load() {
		var b [8]byte
		if _, err := s.log.ReadAt(b[:], pos); err != nil {
			return fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
		}
		end = int64(binary.BigEndian.Uint64(b[:]))
	}
	keepT := len(s.tix) / timeEntrySize
	for keepT > 0 && s.base+int64(binary.BigEndian.Uint32(s.tix[(keepT-1)*timeEntrySize+8:])) >= end {
		keepT--
	}
	tix := slices.Clone(s.tix[:keepT*timeEntrySize])

	st, from := resumeState(s, idx, tix, int64(l.cfg.IndexIntervalBytes))
	var buf []byte
	bad, err := s.walk(&st, from, pos, false, true, int64(l.cfg.IndexIntervalBytes), &buf)
	if err != nil {
		return err
	}
	if bad != nil {
		return fmt.Errorf("truncate %s: %w at %d: %w", s.name(), ErrCorruption, bad.pos, bad.err)
	}
	// Readers stop at the new size before the file shrinks.
	l.mu.Lock()
	s.size.Store(pos)
	s.next, s.idx, s.tix, s.maxTS, s.maxTSOff = st.next, st.idx, st.tix, st.maxTS, st.maxTSOff
	s.forgetFrom(pos)
	l.mu.Unlock()
	s.sinceIndex = st.sinceIndex
	if err := s.log.Truncate(pos); err != nil {
		return fmt.Errorf("truncate %s: %w", s.name(), err)
	}
	if err := s.sync(l.isActive(s)); err != nil {
		return err
	}
	if pos == 0 {
		s.firstAt = 0
	}
	return nil
}

// Reset removes every batch and starts the log empty at offset, which
// becomes both its start and its end offset: a replica does this when its
// log and its leader's have nothing in common (the leader's log starts
// past this one's end). It is fsynced before Reset returns.
func (l *Log) Reset(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: reset to %d", ErrOffsetOutOfRange, offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	s, err := l.createSegmentReplacing(offset)
	if err != nil {
		l.failed = err
		return err
	}
	l.mu.Lock()
	victims := l.segs
	l.segs = []*segment{s}
	l.start, l.leo, l.size, l.firstDirty = offset, offset, 0, offset
	l.unflushed = 0
	l.mu.Unlock()
	l.syncMu.Lock()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.flushed = offset
	l.syncMu.Unlock()
	if err := l.dropSegments(victims); err != nil {
		return err
	}
	if err := writeCheckpoint(l.fsys, l.dir, startOffsetFile, offset); err != nil {
		return err
	}
	if err := writeCheckpoint(l.fsys, l.dir, cleanerCheckpointFile, offset); err != nil {
		return err
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return l.saveRecoveryPoint(true)
}

// createSegmentReplacing creates the empty segment a Reset starts with. A
// segment with the same base offset is in the way: it is marked deleted
// first. Caller holds appendMu.
func (l *Log) createSegmentReplacing(base int64) (*segment, error) {
	for _, s := range l.segs {
		if s.base == base {
			if err := s.markDeleted(); err != nil {
				return nil, err
			}
		}
	}
	return l.createSegment(base)
}
