package commitlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Open opens the log in dir, creating the directory and an empty first
// segment when missing, and recovers it (see docs/format/segments.md):
//
//   - batches below the recovery point (all of them with opts.Clean) are
//     durable: their index entries are used when the index files check out,
//     and only the batches after the last entry used are read, each checked
//     with recordbatch.Check and for increasing offsets; a segment whose
//     indexes do not check out, or have no entry below the recovery point,
//     is read whole and its indexes rebuilt;
//   - bad bytes with no valid batch anywhere after them (a torn tail) are
//     truncated, fsynced and logged with what was dropped;
//   - bad bytes followed by a valid batch are corruption: Open returns a
//     *CorruptionError (wrapping ErrCorruption) and modifies no log file.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	l := &Log{dir: dir, fsys: opts.FS, logger: opts.Logger, now: opts.Now, cfg: cfg.normalized()}
	if l.fsys == nil {
		l.fsys = OSFS{}
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.syncCond = sync.NewCond(&l.syncMu)
	if err := l.recover(opts.Clean); err != nil {
		for _, s := range l.segs {
			s.release()
		}
		return nil, err
	}
	return l, nil
}

// loaded is one segment during recovery.
type loaded struct {
	s       *segment
	st      segState
	rebuilt bool      // st.idx and st.tix must be written to the index files
	bad     *badBatch // first bad batch, nil when the whole file is good
	fileEnd int64
	// saved is whether the index files hold st.idx[:idxSaved] and
	// st.tix[:tixSaved] exactly, so that closing does not rewrite them.
	saved              bool
	idxSaved, tixSaved int
}

func (l *Log) recover(clean bool) error {
	if err := l.fsys.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("create log directory: %w", err)
	}
	defer func() { l.listed = nil }()
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	start, hasStart := l.readOffsetCheckpoint(startOffsetFile)
	rp, hasRP := l.readOffsetCheckpoint(recoveryPointFile)
	l.savedRP, l.hasRP = rp, hasRP // rewritten at the end of recovery only if it moves
	l.firstDirty, _ = l.readOffsetCheckpoint(cleanerCheckpointFile)
	if len(bases) == 0 {
		s, err := l.createSegment(max(start, 0))
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		return l.finishRecovery(nil, start, hasStart)
	}
	buf := getScanBuf()
	defer putScanBuf(buf)
	ls := make([]*loaded, 0, len(bases))
	for i, base := range bases {
		s, err := openSegment(l.fsys, l.dir, base, false, &l.mu, l.logger)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		trusted := int64(math.MaxInt64)
		if !clean {
			trusted = rp
		}
		ld, err := l.loadSegment(s, trusted, i < len(bases)-1, buf)
		if err != nil {
			return err
		}
		ls = append(ls, ld)
	}
	if err := l.repairTail(ls, buf); err != nil {
		return err
	}
	return l.finishRecovery(ls, start, hasStart)
}

// listSegments completes or rolls back interrupted cleaner swaps (see
// finishSwaps), removes leftovers (.deleted and .tmp files, indexes without
// a log) and returns the segment base offsets in order. It keeps the
// names in l.listed, so that recovery does not try to open files that are
// not there: most are missing in a small log, and opening 10,000 of them
// was a third of a broker's start.
func (l *Log) listSegments() ([]int64, error) {
	names, err := l.fsys.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list log directory: %w", err)
	}
	if changed, err := l.finishSwaps(names); err != nil {
		return nil, err
	} else if changed {
		if names, err = l.fsys.ReadDir(l.dir); err != nil {
			return nil, fmt.Errorf("list log directory: %w", err)
		}
	}
	l.listed = make(map[string]bool, len(names))
	logs := map[string]bool{}
	var bases []int64
	for _, n := range names {
		l.listed[n] = true
		if base, ok := parseSegmentName(n); ok {
			bases = append(bases, base)
			logs[strings.TrimSuffix(n, logSuffix)] = true
		}
	}
	for _, n := range names {
		stem, isIndex := strings.CutSuffix(n, indexSuffix)
		if !isIndex {
			stem, isIndex = strings.CutSuffix(n, timeIndexSuffix)
		}
		if !isIndex {
			stem, isIndex = strings.CutSuffix(n, txnIndexSuffix)
		}
		if strings.HasSuffix(n, deletedSuffix) || strings.HasSuffix(n, tmpSuffix) || isIndex && !logs[stem] {
			if err := l.fsys.Remove(filepath.Join(l.dir, n)); err != nil {
				return nil, fmt.Errorf("remove leftover %s: %w", n, err)
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// readOffsetCheckpoint reads checkpoint file name, not found when the
// directory listing of recovery does not hold it.
func (l *Log) readOffsetCheckpoint(name string) (int64, bool) {
	if l.listed != nil && !l.listed[name] {
		return 0, false
	}
	v, found, err := readCheckpoint(l.fsys, l.dir, name)
	if err != nil {
		l.logger.Warn("ignoring checkpoint", "file", name, "err", err)
		return 0, false
	}
	return v, found && v >= 0
}

// loadSegment learns a segment's state. Its batches below trusted are
// durable (the recovery point, or all of them after a clean shutdown), so
// the index entries for them are used when the index files check out, and
// only the batches after the last entry used are read and checked. If that
// fails, or no entry is below trusted, every batch is read and checked and
// the indexes are rebuilt.
//
// A sealed segment's time index ends with an entry for its largest
// timestamp, as sealSegment writes it.
func (l *Log) loadSegment(s *segment, trusted int64, sealed bool, buf *[]byte) (*loaded, error) {
	fileEnd, err := s.log.Size()
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", s.name(), err)
	}
	ld := &loaded{s: s, fileEnd: fileEnd}
	interval := int64(l.cfg.IndexIntervalBytes)
	idx, tix, idxErr := l.readIndexes(s)
	if trusted > s.base {
		st, from, cut, ok := l.loadIndexes(s, idx, tix, idxErr, fileEnd, trusted)
		if ok {
			bad, err := s.walk(&st, from, fileEnd, true, true, interval, buf)
			if err != nil {
				return nil, err
			}
			if bad == nil && (len(st.tix) == 0 || st.maxTSOff < st.next) {
				if sealed { // a no-op when the files hold the seal's entry
					st.tix = maybeAppendTimeEntry(st.tix, st.maxTS, st.maxTSOff-s.base)
				}
				// Batches at or above trusted may be only in the page
				// cache of a crashed process, and cut entries were added
				// again by the walk: both need the segment written and
				// synced.
				ld.st, ld.rebuilt = st, cut || st.next > trusted
				// The walk re-adds the last entry it resumed from, so the
				// files are normally a prefix of what it ends with.
				ld.saved = bytes.HasPrefix(st.idx, idx) && bytes.HasPrefix(st.tix, tix)
				ld.idxSaved, ld.tixSaved = len(idx), len(tix)
				return ld, nil
			}
		}
		l.logger.Info("rebuilding indexes", "segment", s.name())
	}
	ld.st = segState{next: s.base, maxTS: -1, maxTSOff: -1}
	ld.rebuilt = true
	ld.saved = idxErr == nil && len(idx) == 0 && len(tix) == 0 // missing, or empty
	ld.bad, err = s.walk(&ld.st, 0, fileEnd, true, true, interval, buf)
	if sealed {
		ld.st.tix = maybeAppendTimeEntry(ld.st.tix, ld.st.maxTS, ld.st.maxTSOff-s.base)
	}
	return ld, err
}

// readIndexes returns the contents of s's index files during recovery; a
// missing file, or one the directory listing does not hold, reads as empty.
func (l *Log) readIndexes(s *segment) (idx, tix []byte, err error) {
	read := func(suffix string) ([]byte, error) {
		if !l.listed[segmentName(s.base, suffix)] {
			return nil, nil
		}
		return readFile(s.fsys, s.path(suffix))
	}
	if idx, err = read(indexSuffix); err != nil {
		return nil, nil, err
	}
	tix, err = read(timeIndexSuffix)
	return idx, tix, err
}

// loadIndexes checks s's index files, read as idx and tix (with the read
// error err), keeping only the offset
// entries for batches below trusted and the time entries before the last
// of those. It returns the state up to the last offset entry kept and that
// entry's position, whether entries were cut, or ok false when either index
// is missing entries it should have or is inconsistent, or none is kept.
func (l *Log) loadIndexes(s *segment, idx, tix []byte, err error, fileEnd, trusted int64) (st segState, from int64, cut, ok bool) {
	if err != nil || len(idx)%offsetEntrySize != 0 || len(tix)%timeEntrySize != 0 {
		return st, 0, false, false
	}
	prevRel, prevPos := int64(-1), int64(0)
	for e := idx; len(e) > 0; e = e[offsetEntrySize:] {
		rel, pos := int64(binary.BigEndian.Uint32(e)), int64(binary.BigEndian.Uint32(e[4:]))
		if rel <= prevRel || rel > maxRelative || pos <= prevPos || pos >= fileEnd {
			return st, 0, false, false
		}
		prevRel, prevPos = rel, pos
	}
	prevTS, prevOff := int64(-1), int64(-1)
	for e := tix; len(e) > 0; e = e[timeEntrySize:] {
		ts, rel := int64(binary.BigEndian.Uint64(e)), int64(binary.BigEndian.Uint32(e[8:]))
		if ts <= prevTS || rel < prevOff || rel > maxRelative {
			return st, 0, false, false
		}
		prevTS, prevOff = ts, rel
	}
	if keep := entriesBelow(idx, offsetEntrySize, 0, trusted-s.base); keep < len(idx) {
		if keep == 0 {
			return st, 0, true, false
		}
		last := int64(binary.BigEndian.Uint32(idx[keep-offsetEntrySize:]))
		idx, tix = idx[:keep], tix[:entriesBelow(tix, timeEntrySize, 8, last)]
		cut = true
	}
	st, from = resumeState(s, idx, tix, int64(l.cfg.IndexIntervalBytes))
	if from > 0 && !l.batchStartsAt(s, from, st.next) {
		return st, 0, cut, false
	}
	return st, from, cut, true
}

// entriesBelow returns the length of the prefix of index entries (of size
// bytes, with their relative offset at byte at) whose offsets are below
// rel. Offsets increase through an index.
func entriesBelow(entries []byte, size, at int, rel int64) int {
	n := 0
	for n < len(entries) && int64(binary.BigEndian.Uint32(entries[n+at:])) < rel {
		n += size
	}
	return n
}

// resumeState returns the state of a walk that resumes at the last batch
// in offset index idx (position from, 0 when idx is empty), knowing time
// index tix: observe re-adds that last entry when it walks the batch.
func resumeState(s *segment, idx, tix []byte, interval int64) (st segState, from int64) {
	st = segState{idx: idx, tix: tix, next: s.base, maxTS: -1, maxTSOff: -1}
	if ts, rel, ok := lastTimeEntry(tix); ok {
		st.maxTS, st.maxTSOff = ts, s.base+rel
	}
	if len(idx) == 0 {
		return st, 0
	}
	last := idx[len(idx)-offsetEntrySize:]
	st.idx = idx[:len(idx)-offsetEntrySize]
	st.next = s.base + int64(binary.BigEndian.Uint32(last))
	st.sinceIndex = interval
	return st, int64(binary.BigEndian.Uint32(last[4:]))
}

// batchStartsAt reports whether a batch with base offset off begins at pos.
func (l *Log) batchStartsAt(s *segment, pos, off int64) bool {
	var b [8]byte
	if _, err := s.log.ReadAt(b[:], pos); err != nil {
		return false
	}
	return int64(binary.BigEndian.Uint64(b[:])) == off
}

// repairTail applies the torn-tail rule to the first bad batch found: when
// no valid batch follows it in its segment or any later one, the log is
// truncated there and later segments removed; otherwise it is corruption.
func (l *Log) repairTail(ls []*loaded, buf *[]byte) error {
	first := slices.IndexFunc(ls, func(ld *loaded) bool { return ld.bad != nil })
	if first < 0 {
		return l.checkSegmentOrder(ls)
	}
	ld := ls[first]
	corrupt := func(pos int64, what string) error {
		return &CorruptionError{Segment: ld.s.name(), Offset: ld.bad.pos,
			Err: fmt.Errorf("%w: %w; a valid batch follows %s at position %d", ErrCorruption, ld.bad.err, what, pos)}
	}
	if pos, err := ld.s.findValid(ld.bad.pos+1, ld.fileEnd, buf); err != nil {
		return fmt.Errorf("search %s for valid batches: %w", ld.s.name(), err)
	} else if pos >= 0 {
		return corrupt(pos, "in the same segment")
	}
	for _, later := range ls[first+1:] {
		pos := int64(0)
		if later.st.end == 0 {
			var err error
			if pos, err = later.s.findValid(0, later.fileEnd, buf); err != nil {
				return fmt.Errorf("search %s for valid batches: %w", later.s.name(), err)
			}
		}
		if pos >= 0 {
			return corrupt(pos, "in segment "+later.s.name())
		}
	}

	dropped := ld.fileEnd - ld.bad.pos
	for _, later := range ls[first+1:] {
		dropped += later.fileEnd
	}
	attrs := []any{"segment", ld.s.name(), "position", ld.bad.pos, "bytes", dropped,
		"later_segments", len(ls) - first - 1, "reason", ld.bad.err, "first_lost_offset", ld.st.next}
	if ld.bad.hdrOK && ld.bad.hdr.BaseOffset >= ld.st.next && ld.bad.hdr.LastOffsetDelta >= 0 {
		attrs = append(attrs, "torn_batch_offsets", fmt.Sprintf("[%d, %d]", ld.bad.hdr.BaseOffset, ld.bad.hdr.LastOffset()))
	}
	l.logger.Warn("truncating torn tail of log", attrs...)
	if err := ld.s.log.Truncate(ld.bad.pos); err != nil {
		return fmt.Errorf("truncate %s: %w", ld.s.name(), err)
	}
	if err := ld.s.log.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", ld.s.name(), err)
	}
	ld.bad, ld.fileEnd = nil, ld.bad.pos
	for _, later := range ls[first+1:] {
		if err := later.s.markDeleted(); err != nil {
			return err
		}
		later.s.release()
	}
	l.segs = l.segs[:first+1]
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	clear(ls[first+1:])
	return l.checkSegmentOrder(ls[:first+1])
}

// checkSegmentOrder reports segments whose offsets overlap their
// successor's as corruption.
func (l *Log) checkSegmentOrder(ls []*loaded) error {
	for i := 1; i < len(ls); i++ {
		if ls[i-1].st.next > ls[i].s.base {
			return &CorruptionError{Segment: ls[i].s.name(), Offset: 0,
				Err: fmt.Errorf("%w: segment base %d below end %d of the previous segment", ErrCorruption, ls[i].s.base, ls[i-1].st.next)}
		}
	}
	return nil
}

// finishRecovery installs the loaded state, trims preallocated tails,
// writes rebuilt indexes, applies the start offset and fsyncs what it
// touched, then records the recovery point.
func (l *Log) finishRecovery(ls []*loaded, start int64, hasStart bool) error {
	for _, ld := range ls {
		if ld == nil {
			break
		}
		s, st := ld.s, ld.st
		s.size.Store(st.end)
		s.next, s.idx, s.tix, s.maxTS, s.maxTSOff, s.sinceIndex = st.next, st.idx, st.tix, st.maxTS, st.maxTSOff, st.sinceIndex
		if err := l.loadAborted(s); err != nil {
			return err
		}
		if ld.saved {
			s.idxMu.Lock()
			s.idxKnown, s.idxSaved, s.tixSaved = true, ld.idxSaved, ld.tixSaved
			s.idxMu.Unlock()
		}
		if ld.rebuilt {
			// Writes the rebuilt indexes; and what was read may have been
			// only in the page cache of a crashed process.
			if err := s.sync(s == l.segs[len(l.segs)-1]); err != nil {
				return err
			}
		}
	}
	active := l.segs[len(l.segs)-1]
	l.leo = active.next
	if active.size.Load() > 0 {
		active.firstAt = l.nowMs()
	}
	if !hasStart || start < l.segs[0].base {
		start = l.segs[0].base
	}
	if start > l.leo {
		l.logger.Warn("log start offset above recovered end offset: emptying the log", "start_offset", start, "end_offset", l.leo)
		if err := l.replaceAll(start); err != nil {
			return err
		}
	}
	l.start = start
	for len(l.segs) > 1 && l.segs[1].base <= start {
		if err := l.segs[0].markDeleted(); err != nil {
			return err
		}
		l.segs[0].release()
		l.segs = l.segs[1:]
	}
	for _, s := range l.segs {
		l.size += s.size.Load()
	}
	l.flushed = l.leo
	return l.saveRecoveryPoint(true)
}

// replaceAll removes every segment and starts an empty one at base.
func (l *Log) replaceAll(base int64) error {
	for _, s := range l.segs {
		if err := s.markDeleted(); err != nil {
			return err
		}
		s.release()
	}
	l.segs = nil
	s, err := l.createSegment(base)
	if err != nil {
		return err
	}
	l.segs, l.leo = []*segment{s}, base
	return nil
}
