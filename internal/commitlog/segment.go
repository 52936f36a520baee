package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/stratalog/strata/internal/recordbatch"
)

// segmentFileSuffixes are the suffixes of every file of a segment, the log
// first; only the log must exist.
var segmentFileSuffixes = []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix}

// segment is one <base>.log file, its two indexes and its aborted-transaction
// index.
//
// Fields marked (mu) are written with Log.appendMu and Log.mu both held and
// read with either; idx and tix are only ever appended to in place, and
// replaced by a copy when shortened, so a reader may keep a slice of them
// taken under Log.mu. size is atomic so that readers need no lock to learn
// how far the file holds complete batches.
type segment struct {
	base int64
	dir  string
	fsys FS

	// log is open for the segment's life. The index files are opened only
	// to be read at recovery and written by saveIndexes, so that a segment
	// costs one file descriptor (10,000 partitions fit a common limit).
	log File
	lmu *sync.RWMutex // the log's mu, which guards idx and tix

	idxMu     sync.Mutex
	idxKnown  bool // (idxMu) the index files hold idx[:idxSaved] and tix[:tixSaved] exactly
	idxSaved  int  // (idxMu)
	tixSaved  int  // (idxMu)
	idxClosed bool // (idxMu) the files were renamed away: write no more

	size atomic.Int64 // bytes of complete batches in log

	next       int64  // (mu) offset after the segment's last batch; base when empty
	idx        []byte // (mu) offset index entries, base offsets of batches
	tix        []byte // (mu) time index entries
	maxTS      int64  // (mu) largest batch MaxTimestamp; -1 when none
	maxTSOff   int64  // (mu) last offset of the first batch holding maxTS; -1 when none
	dirty      bool   // (mu) holds data or index entries not yet fsynced
	sinceIndex int64  // (appendMu) log bytes written since the last offset index entry
	firstAt    int64  // (appendMu) wall clock (ms) of the first append; 0 when none
	jitter     int64  // (appendMu) roll jitter in ms chosen for this segment
	// aborted is the aborted-transaction index (txnindex.go), in marker
	// order; like idx, only appended to in place. abortedUnsynced says
	// the file has writes not yet fsynced.
	aborted         []AbortedTxn // (mu)
	abortedUnsynced bool         // (mu)
	// recent holds the places of the last batches appended while the
	// segment is active (recent.go); nil once sealed.
	recent []batchPlace // (mu)

	// refs counts the log's own reference (dropped when the segment leaves
	// the log) and every reader's; at zero the files are closed, and
	// unlinked when deleted is set.
	refs    atomic.Int32
	deleted atomic.Bool
	logger  *slog.Logger
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base, suffix))
}

func (s *segment) name() string { return segmentName(s.base, logSuffix) }

// openSegment opens the log file of the segment with base offset base,
// guarded by the log's lmu. With create it creates the log file and empty
// index files, dropping existing contents.
func openSegment(fsys FS, dir string, base int64, create bool, lmu *sync.RWMutex, logger *slog.Logger) (*segment, error) {
	s := &segment{base: base, dir: dir, fsys: fsys, lmu: lmu, next: base, maxTS: -1, maxTSOff: -1, logger: logger}
	s.refs.Store(1)
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	var err error
	if s.log, err = fsys.OpenFile(s.path(logSuffix), flag, 0o644); err != nil {
		return nil, fmt.Errorf("open segment %s: %w", s.name(), err)
	}
	if create {
		s.idxKnown = true
		if err := s.saveIndexes(false, false); err != nil {
			s.log.Close()
			return nil, err
		}
	}
	return s, nil
}

func readFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil || n == 0 {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// smallSegmentBytes is the size below which the active segment's index
// files are not created: recovery walks a segment whose files hold nothing
// from its start, which for so little data costs less than creating the
// two files (on ext4, creating them made stopping a broker with 10,000
// small partitions take seconds).
var smallSegmentBytes int64 = 64 << 10 // a variable for tests

// saveIndexes makes the index files hold s.idx and s.tix: it writes the
// entries added since it last ran (everything, when the files' contents
// are not known), cuts entries dropped since, and with sync fsyncs what it
// wrote. An index file that lags behind its log is harmless: recovery
// resumes from its last entry. It does nothing once the files were
// renamed away, nor for the active segment while it is smaller than
// smallSegmentBytes and its files hold nothing (they may not exist).
func (s *segment) saveIndexes(sync, active bool) error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	if s.idxClosed || active && s.indexesEmptyLocked() && s.size.Load() < smallSegmentBytes {
		return nil
	}
	s.lmu.RLock()
	idx, tix := s.idx, s.tix
	s.lmu.RUnlock()
	if err := s.saveIndex(indexSuffix, idx, &s.idxSaved, sync); err != nil {
		return fmt.Errorf("write index of %s: %w", s.name(), err)
	}
	if err := s.saveIndex(timeIndexSuffix, tix, &s.tixSaved, sync); err != nil {
		return fmt.Errorf("write time index of %s: %w", s.name(), err)
	}
	s.idxKnown = true
	return nil
}

// indexesEmptyLocked reports whether the index files are known to hold
// nothing. Caller holds idxMu.
func (s *segment) indexesEmptyLocked() bool {
	return s.idxKnown && s.idxSaved == 0 && s.tixSaved == 0
}

// saveIndex brings one index file from entries[:*saved] to entries.
// Caller holds idxMu.
func (s *segment) saveIndex(suffix string, entries []byte, saved *int, sync bool) error {
	if s.idxKnown && *saved == len(entries) {
		return nil
	}
	flag := os.O_RDWR | os.O_CREATE
	if !s.idxKnown {
		flag |= os.O_TRUNC
		*saved = 0
	}
	f, err := s.fsys.OpenFile(s.path(suffix), flag, 0o644)
	if err != nil {
		return err
	}
	if len(entries) < *saved {
		err = f.Truncate(int64(len(entries)))
	} else if len(entries) > *saved {
		_, err = f.WriteAt(entries[*saved:], int64(*saved))
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.idxKnown = false
		return err
	}
	*saved = len(entries)
	return nil
}

// acquire takes a reader's reference. The caller holds Log.mu and s is in
// the log's list, so the log's own reference keeps refs above zero.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the files and, for a
// deleted segment, unlinks them.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.closeFiles()
	if !s.deleted.Load() {
		return
	}
	for _, suffix := range segmentFileSuffixes {
		err := s.fsys.Remove(s.path(suffix) + deletedSuffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logger.Warn("remove deleted segment file", "segment", s.name(), "err", err)
		}
	}
}

func (s *segment) closeFiles() {
	if err := s.log.Close(); err != nil {
		s.logger.Warn("close segment file", "segment", s.name(), "err", err)
	}
}

// markDeleted renames the segment's files to their .deleted names so that
// a new segment may take the base offset while readers finish; the caller
// then drops the log's reference with release.
func (s *segment) markDeleted() error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	if s.deleted.Load() {
		return nil
	}
	s.idxClosed = true
	for _, suffix := range segmentFileSuffixes {
		err := s.fsys.Rename(s.path(suffix), s.path(suffix)+deletedSuffix)
		if err != nil && (suffix == logSuffix || !errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("delete segment %s: %w", s.name(), err)
		}
	}
	s.deleted.Store(true)
	return nil
}

// lookup returns the file position of the last indexed batch whose base
// offset is at most off, or 0; idx is a snapshot of s.idx.
func (s *segment) lookup(idx []byte, off int64) int64 {
	rel := off - s.base
	lo, hi := 0, len(idx)/offsetEntrySize // find the first entry with key > rel
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(binary.BigEndian.Uint32(idx[m*offsetEntrySize:])) <= rel {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0
	}
	return int64(binary.BigEndian.Uint32(idx[(lo-1)*offsetEntrySize+4:]))
}

// timeLookup returns the offset of the last time index entry whose
// timestamp is below ts, or -1; every record at or below that offset has a
// timestamp below ts.
func (s *segment) timeLookup(tix []byte, ts int64) int64 {
	lo, hi := 0, len(tix)/timeEntrySize // first entry with timestamp >= ts
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(binary.BigEndian.Uint64(tix[m*timeEntrySize:])) < ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return -1
	}
	return s.base + int64(binary.BigEndian.Uint32(tix[(lo-1)*timeEntrySize+8:]))
}

// lastTimeEntry returns the last time index entry's timestamp, or -1.
func lastTimeEntry(tix []byte) (ts, off int64, ok bool) {
	if len(tix) < timeEntrySize {
		return -1, -1, false
	}
	e := tix[len(tix)-timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), int64(binary.BigEndian.Uint32(e[8:])), true
}

// segState is what a walk over batches learns about a segment.
type segState struct {
	end        int64 // position after the last good batch
	next       int64 // offset after the last good batch
	maxTS      int64
	maxTSOff   int64
	sinceIndex int64
	idx, tix   []byte
}

// observe folds one good batch at position pos into st. With index it also
// appends the index entries Append would have written.
func (st *segState) observe(h recordbatch.Header, pos, base int64, interval int64, index bool) {
	indexed := index && st.sinceIndex >= interval
	if indexed {
		st.idx = appendOffsetEntry(st.idx, h.BaseOffset-base, pos)
		st.sinceIndex = 0
	}
	if h.MaxTimestamp > st.maxTS {
		st.maxTS, st.maxTSOff = h.MaxTimestamp, h.LastOffset()
	}
	if indexed {
		st.tix = maybeAppendTimeEntry(st.tix, st.maxTS, st.maxTSOff-base)
	}
	st.sinceIndex += h.Size()
	st.end = pos + h.Size()
	st.next = h.NextOffset()
}

func appendOffsetEntry(b []byte, rel, pos int64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(rel))
	return binary.BigEndian.AppendUint32(b, uint32(pos))
}

// maybeAppendTimeEntry appends (ts, rel) when ts is above the last entry's
// timestamp.
func maybeAppendTimeEntry(b []byte, ts, rel int64) []byte {
	if last, _, ok := lastTimeEntry(b); ts < 0 || ok && ts <= last {
		return b
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return binary.BigEndian.AppendUint32(b, uint32(rel))
}

// badBatch describes the first batch of a walk that failed.
type badBatch struct {
	pos   int64
	err   error
	hdr   recordbatch.Header // as far as it could be read
	hdrOK bool
}

// walk reads the batches of s's log between positions [from, end) starting
// in state st, checking each with recordbatch.Check when verify is set (and
// otherwise only its framing), and that offsets increase and stay within
// int32 of the base. It stops at the first bad batch and returns it, or nil
// when every byte up to end was a good batch. I/O errors are returned as err.
func (s *segment) walk(st *segState, from, end int64, verify, index bool, interval int64, buf *[]byte) (*badBatch, error) {
	sc := scanner{f: s.log, end: end, buf: (*buf)[:0]}
	defer func() { *buf = sc.buf }()
	pos := from
	for pos < end {
		b, err := sc.batch(pos)
		if err != nil {
			if errors.Is(err, errIO) {
				return nil, err
			}
			bb := &badBatch{pos: pos, err: err}
			bb.hdr, bb.hdrOK = sc.header(pos)
			return bb, nil
		}
		var h recordbatch.Header
		if verify {
			h, err = recordbatch.Check(b)
		} else {
			h, err = recordbatch.ReadHeader(b)
			if err == nil && h.Magic != recordbatch.CurrentMagic {
				err = fmt.Errorf("%w: magic %d", recordbatch.ErrMagic, h.Magic)
			}
		}
		if err == nil {
			err = checkOffsets(h, st.next, s.base)
		}
		if err != nil {
			return &badBatch{pos: pos, err: err, hdr: h, hdrOK: true}, nil
		}
		st.observe(h, pos, s.base, interval, index)
		pos += h.Size()
	}
	return nil, nil
}

// checkOffsets checks that a batch starts at or after next and that its
// last offset is within a relative int32 of the segment base.
func checkOffsets(h recordbatch.Header, next, base int64) error {
	if h.BaseOffset < next {
		return fmt.Errorf("%w: base offset %d below expected %d", recordbatch.ErrCorrupt, h.BaseOffset, next)
	}
	if h.LastOffsetDelta < 0 || h.LastOffset()-base > maxRelative {
		return fmt.Errorf("%w: offset %d out of segment range", recordbatch.ErrCorrupt, h.LastOffset())
	}
	return nil
}

// maxRelative is the largest offset delta to a segment base an index holds.
const maxRelative = 1<<31 - 1

// errIO marks scanner errors from the file rather than its contents.
var errIO = errors.New("i/o error")

// scanReadSize is how much a scanner reads at a time.
const scanReadSize = 1 << 20

// scanBufs recycles scanner buffers: opening 10,000 small logs allocated
// two per log, and the garbage collector's assists took a tenth of the
// broker's start.
var scanBufs sync.Pool // of *[]byte

func getScanBuf() *[]byte {
	if p, ok := scanBufs.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

// putScanBuf recycles *p unless it grew past twice scanReadSize (for a
// batch that large), which would pin memory.
func putScanBuf(p *[]byte) {
	if cap(*p) <= 2*scanReadSize {
		*p = (*p)[:0]
		scanBufs.Put(p)
	}
}

// scanner reads whole batches sequentially from a file up to end.
type scanner struct {
	f      File
	end    int64
	buf    []byte // holds file bytes [bufPos, bufPos+len(buf))
	bufPos int64
	chunk  int64 // bytes to read at a time; 0 is scanReadSize
}

// fill makes buf hold [pos, pos+n); n must not pass end.
func (sc *scanner) fill(pos, n int64) error {
	if pos >= sc.bufPos && pos+n <= sc.bufPos+int64(len(sc.buf)) {
		return nil
	}
	chunk := sc.chunk
	if chunk == 0 {
		chunk = scanReadSize
	}
	want := min(max(n, chunk), sc.end-pos)
	if int64(cap(sc.buf)) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	got, err := sc.f.ReadAt(sc.buf, pos)
	sc.buf, sc.bufPos = sc.buf[:got], pos
	if int64(got) < n {
		if err == nil || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: file ends at %d", recordbatch.ErrTruncated, pos+int64(got))
		}
		return fmt.Errorf("%w: read at %d: %w", errIO, pos, err)
	}
	return nil
}

// batch returns the bytes of the batch framed at pos, valid until the next
// call. A frame that is short, too small or runs past end is an error
// wrapping recordbatch.ErrTruncated or ErrCorrupt.
func (sc *scanner) batch(pos int64) ([]byte, error) {
	if sc.end-pos < recordbatch.LogOverhead {
		return nil, fmt.Errorf("%w: %d bytes left for a batch frame", recordbatch.ErrTruncated, sc.end-pos)
	}
	if err := sc.fill(pos, recordbatch.LogOverhead); err != nil {
		return nil, err
	}
	b := sc.buf[pos-sc.bufPos:]
	length := int64(int32(binary.BigEndian.Uint32(b[8:])))
	if length < recordbatch.HeaderSize-recordbatch.LogOverhead {
		return nil, fmt.Errorf("%w: batch length %d", recordbatch.ErrCorrupt, length)
	}
	size := recordbatch.LogOverhead + length
	if size > sc.end-pos {
		return nil, fmt.Errorf("%w: batch of %d bytes, %d left", recordbatch.ErrTruncated, size, sc.end-pos)
	}
	if err := sc.fill(pos, size); err != nil {
		return nil, err
	}
	return sc.buf[pos-sc.bufPos : pos-sc.bufPos+size], nil
}

// header decodes whatever header is readable at pos, for reporting.
func (sc *scanner) header(pos int64) (recordbatch.Header, bool) {
	n := min(int64(recordbatch.HeaderSize), sc.end-pos)
	if n < recordbatch.HeaderSize || sc.fill(pos, n) != nil {
		return recordbatch.Header{}, false
	}
	h, _ := recordbatch.ReadHeader(sc.buf[pos-sc.bufPos:])
	return h, h.Magic == recordbatch.CurrentMagic
}

// findValid reports the position of the first plausible valid batch (magic
// 2, framed within end, correct CRC) at or after from, or -1.
func (s *segment) findValid(from, end int64, buf *[]byte) (int64, error) {
	sc := scanner{f: s.log, end: end, buf: (*buf)[:0]}
	defer func() { *buf = sc.buf }()
	for pos := from; end-pos >= recordbatch.HeaderSize; pos++ {
		if err := sc.fill(pos, recordbatch.HeaderSize); err != nil {
			return -1, err
		}
		b := sc.buf[pos-sc.bufPos:]
		if b[16] != recordbatch.CurrentMagic {
			continue
		}
		length := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if length < recordbatch.HeaderSize-recordbatch.LogOverhead || recordbatch.LogOverhead+length > end-pos {
			continue
		}
		batch, err := sc.batch(pos)
		if err != nil {
			return -1, err
		}
		if _, err := recordbatch.Check(batch); err == nil {
			return pos, nil
		}
	}
	return -1, nil
}
